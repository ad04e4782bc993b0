"""Add samples: place new samples (another layer or file with the same features)
into the finished map in a worker thread, then append them to the map layer with a
``batch`` feature. The map's own points stay where they are."""

from __future__ import annotations

import numpy as np
import pandas as pd
from napari.qt.threading import thread_worker

from ..reader import point_size
from ..sources import SourceError, points_features
from .colour import NO_COLOUR
from .run_controller import _background_priority


@thread_worker(start_thread=False, ignore_errors=True)
def _transform_worker(job, X_new, n_jobs):
    try:
        with _background_priority():
            return job.add_samples(X_new, n_jobs=n_jobs)
    except Exception as err:  # reported in the widget
        return err


class AddSamplesMixin:
    """The Add samples action (part of :class:`TSNEWidget`)."""

    def add_samples(self, *args):
        """Place the chosen new samples into the current map (map points stay put)."""
        if self.is_running or self._add_worker is not None:
            self._info("Wait for the current run to finish (or Stop it) first.")
            return
        if self._run is None or self._run.emb is None or self._layer is None:
            self._error("Make a map first (Run), then add samples to it.")
            return
        try:
            new = self._checked_source(
                self.add_source.value,
                self.add_file.value,
                self.add_representation.value,
                self._add_cache,
            )
        except SourceError as err:
            self._error(str(err))
            return
        emb = self._run.emb
        n_ref_features = self._source.n_features
        if new.n_features != n_ref_features:
            self._error(
                f"The new samples have {new.n_features:,} features but the map was made from "
                f"{n_ref_features:,} ({self._source.representation}). Choose data with the "
                "same features (e.g. the same genes or image size)."
            )
            return
        n_layer = len(self._layer.data)
        if n_layer != emb.coordinates.shape[0] + self._n_added:
            self._error("The map layer no longer matches the map; press Run to remake it.")
            return
        self._pending_new = new
        jobs = int(self.n_jobs.value)
        worker = _transform_worker(self._run, new.X, None if jobs == 0 else jobs)
        self._add_worker = worker
        worker.returned.connect(lambda r: self._dispatch(self._on_added, r))
        worker.finished.connect(lambda: self._dispatch(self._on_add_finished))
        self.status.value = f"placing {new.n_samples:,} new samples into the map …"
        self._sync_enabled()
        worker.start()

    def _on_added(self, result):
        if not self._alive():
            return
        new = self._pending_new
        if isinstance(result, Exception):
            self._error(f"Adding samples failed: {result}")
            return
        layer = self._layer
        if not self._map_shown():
            self._error("The map layer was removed; the new samples were not added.")
            return
        Y_new = np.asarray(result, dtype=np.float64)
        old = np.asarray(layer.data)
        batch = self.batch_name.value.strip() or "new"
        old_feats = layer.features.reset_index(drop=True).copy()
        if "batch" not in old_feats.columns:
            old_feats["batch"] = self._source.name if self._n_added == 0 else "reference"
        new_feats = points_features(new.annotations)
        new_feats["batch"] = batch
        was_categorical = {
            c
            for df in (old_feats, new_feats)
            for c in df.columns
            if isinstance(df[c].dtype, pd.CategoricalDtype) or df[c].dtype == object
        }
        feats = pd.concat([old_feats, new_feats], ignore_index=True)
        for c in feats.columns:
            if c in was_categorical and not isinstance(feats[c].dtype, pd.CategoricalDtype):
                values = feats[c]
                if values.dtype == object:
                    values = values.astype(str)
                feats[c] = pd.Categorical(values)
        data = np.concatenate([old, Y_new], axis=0)
        size = float(np.median(layer.size)) if len(layer.size) else point_size(data)
        layer.data = data
        layer.features = feats
        layer.size = size  # napari gives appended points its default size instead
        self._n_added += new.n_samples
        self._added.append({"adata": new.adata, "path": new.path, "rows": new.rows, "label": batch})
        layer.metadata["n_added"] = self._n_added
        layer.metadata["added"] = list(self._added)
        self._suggest_combined_path(batch)
        self._reset_colour_choices()
        if "batch" in list(self.colour_by.choices) and self.colour_by.value == NO_COLOUR:
            self.colour_by.value = "batch"
        self._info(f"Added {new.n_samples:,} samples (batch {batch!r}) to the map.")
        self.status.value = f"added {new.n_samples:,} samples"

    def _suggest_combined_path(self, batch: str) -> None:
        """Point "save to" away from the source file: after adding samples the export
        holds more cells than that file, and an input file is never replaced."""
        import os

        target = self._path_of(self.export_path.value)
        src = self._source.path
        if src and (target is None or os.path.abspath(target) == os.path.abspath(src)):
            stem, _ = os.path.splitext(src)
            safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in batch)
            self.export_path.value = f"{stem}_with_{safe}.h5ad"

    def _on_add_finished(self, *args):
        self._add_worker = None
        if not self._closed:
            try:
                self._sync_enabled()
            except RuntimeError:
                pass
