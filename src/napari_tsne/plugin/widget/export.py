"""Export: the map as AnnData, in memory (``widget.adata``) and saved atomically to an
``.h5ad`` file (``obsm[<key>]`` and the parameters in ``uns``, scanpy's conventions).
After samples were added from AnnData files, the export holds the reference and the
new samples combined (see :mod:`napari_tsne.plugin.writer`), or, when the user chooses it,
the map is written into each source file instead."""

from __future__ import annotations

import os

import numpy as np
from napari.utils.notifications import show_info


class ExportMixin:
    """The Export action and the in-memory AnnData (part of :class:`TSNEWidget`)."""

    @property
    def adata(self):
        """An AnnData with the current map in ``obsm[<obsm key>]`` and the parameters in
        ``uns``: the source AnnData itself (filled in place) when the map was made from
        one, otherwise a new AnnData with the layer's features as ``obs`` (and the
        measurements as ``X`` for a map of a features table)."""
        if self._layer is None or self._run is None:
            return None
        return self._fill_memory_adata()

    def _fill_memory_adata(self):
        from ...io import sanitize_params, uns_key_for
        from ..writer import combined_map, full_coordinates, map_anndata

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
        try:
            combined, _ = combined_map(coords, meta, self._layer.features, key, params)
        except ValueError:
            combined = None
        if combined is not None:
            self._memory_adata = combined
            return combined
        ad = map_anndata(coords, self._layer.features, meta, key, params)
        self._memory_adata = ad
        return ad

    def export(self, *args, path: str | os.PathLike | None = None):
        """Save the map (the Export button); returns the path written or None."""
        from ...io import DataWriteError
        from ..writer import export_map

        if self.is_running:
            self._info("Stop the run (or let it finish) before exporting.")
            return None
        if self._layer is None:
            self._error("There is no map to export yet: press Run first.")
            return None
        key = self.export_key.value.strip() or "X_tsne"
        meta = dict(self._layer.metadata)
        meta["obsm_key"] = key
        if self.write_back.value and path is None:
            return self._write_back(key, meta)
        target = self._path_of(path if path is not None else self.export_path.value)
        if target is None:
            self._error("Choose a file to save to (an .h5ad file).")
            return None
        if not target.lower().endswith((".h5ad", ".csv", ".tsv")):
            target += ".h5ad"
        notes: list[str] = []
        try:
            written = export_map(
                target,
                np.asarray(self._layer.data),
                metadata=meta,
                features=self._layer.features,
                key=key,
                notes=notes,
            )
        except (DataWriteError, OSError, ValueError, TypeError) as err:
            self._error(str(err))
            return None
        self._fill_memory_adata()
        added = meta.get("added") or []
        what = "the map"
        if added and all(a.get("adata") is not None for a in added):
            what = f"the reference and {len(added)} set(s) of added samples, combined,"
        elif self._n_added:
            notes.append(
                "The added samples are not from AnnData files: the map and the layer's "
                "features were saved, without data matrices."
            )
        self._info(f"Saved {what} to {written} (obsm[{key!r}]). " + " ".join(notes))
        if self._alive():
            show_info(f"Saved the map to {written}")
        return written

    def _write_back(self, key: str, meta: dict):
        """Write the map into each source file (the 'write into source files' choice)."""
        from ...io import DataWriteError
        from ..writer import write_into_sources

        try:
            written, skipped = write_into_sources(
                np.asarray(self._layer.data), meta, key, meta.get("tsne_params")
            )
        except (DataWriteError, OSError, ValueError, TypeError) as err:
            self._error(str(err))
            return None
        names = ", ".join(os.path.basename(str(p)) for p in written) or "no file"
        text = f"Wrote obsm[{key!r}] into {names}."
        if skipped:
            text += f" Not written (no source file): {', '.join(skipped)}."
        self._info(text)
        if self._alive():
            show_info(text)
        return written
