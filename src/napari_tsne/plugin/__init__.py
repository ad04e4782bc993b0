"""The napari layer of napari-tsne: everything napari calls or shows.

* :mod:`.widget` -- the dock widget, in parts (thin GUI: no algorithm, no schedule);
* :mod:`.reader`, :mod:`.writer`, :mod:`.sample_data` -- the npe2 contributions;
* :mod:`.sources` -- napari layers and AnnData objects as data to map (Qt-free);
* :mod:`.view` -- ``napari_tsne.view(adata)``; :mod:`.demo` -- ``napari-tsne demo``.

Importing this package imports neither napari nor Qt; its modules do so where they
need them.
"""
