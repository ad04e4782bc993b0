"""Export: the map as AnnData, in memory (``widget.adata``) and saved atomically to an
``.h5ad`` file (``obsm[<key>]`` and the parameters in ``uns``, scanpy's conventions)."""

from __future__ import annotations

import os

import numpy as np
from napari.utils.notifications import show_info

from .._sources import obs_from_features


class ExportMixin:
    """The Export action and the in-memory AnnData (part of :class:`TSNEWidget`)."""

    @property
    def adata(self):
        """An AnnData with the current map in ``obsm[<obsm key>]`` and the parameters in
        ``uns``: the source AnnData itself (filled in place) when the map was made from
        one, otherwise a new AnnData with the layer's features as ``obs``."""
        if self._layer is None or self._run is None:
            return None
        return self._fill_memory_adata()

    def _fill_memory_adata(self):
        import anndata

        from .._writer import full_coordinates
        from ..io import sanitize_params, uns_key_for

        key = self.export_key.value.strip() or "X_tsne"
        coords = np.asarray(self._layer.data)
        meta = self._layer.metadata
        params = sanitize_params(meta.get("tsne_params") or {})
        src = self._source
        if src is not None and src.adata is not None and self._n_added == 0:
            ad = src.adata
            rows = meta.get("rows")
            if (len(rows) if rows is not None else ad.n_obs) == len(coords):
                ad.obsm[key] = full_coordinates(coords, ad.n_obs, rows)
                ad.uns[uns_key_for(key)] = {"params": params}
                return ad
        ad = anndata.AnnData(obs=obs_from_features(self._layer.features, len(coords)))
        ad.obsm[key] = coords.copy()
        ad.uns[uns_key_for(key)] = {"params": params}
        self._memory_adata = ad
        return ad

    def export(self, *args, path: str | os.PathLike | None = None):
        """Save the map (the Export button); returns the path written or None."""
        from .._writer import export_map
        from ..io import DataWriteError

        if self.is_running:
            self._info("Stop the run (or let it finish) before exporting.")
            return None
        if self._layer is None:
            self._error("There is no map to export yet: press Run first.")
            return None
        target = self._path_of(path if path is not None else self.export_path.value)
        if target is None:
            self._error("Choose a file to save to (an .h5ad file).")
            return None
        if not target.lower().endswith(".h5ad"):
            target += ".h5ad"
        key = self.export_key.value.strip() or "X_tsne"
        meta = dict(self._layer.metadata)
        meta["obsm_key"] = key
        try:
            written = export_map(
                target,
                np.asarray(self._layer.data),
                metadata=meta,
                features=self._layer.features,
                key=key,
            )
        except (DataWriteError, OSError, ValueError, TypeError) as err:
            self._error(str(err))
            return None
        self._fill_memory_adata()
        self._info(f"Saved the map to {written} (obsm[{key!r}]).")
        if self._alive():
            show_info(f"Saved the map to {written}")
        return written
