"""The widget's form: the controls (data, t-SNE settings, advanced settings, run
buttons, add samples, export), their choices and enabled states, and the reading of
the controls into a data source and the estimator's parameters. The t-SNE options
come from ``_options`` (one table for the command line and the widget)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    LineEdit,
    PushButton,
    SpinBox,
)
from qtpy.QtWidgets import QScrollArea

from ..._options import WIDGET_OPTIONS, tsne_kwargs
from ...engine._validation import METRICS
from ..sources import (
    ANNDATA_FILE,
    FeatureSource,
    SourceError,
    check_source,
    count_nonfinite_rows,
    layer_adata,
    layer_representations,
    load_anndata_file,
    source_from_anndata,
    source_from_layer,
    usable_layers,
)

#: widget class and value type of each kind of option (see ``_options.Option.widget``)
_WIDGET_TYPES = {"float": FloatSpinBox, "int": SpinBox, "choice": ComboBox}
_VALUE_TYPES = {"float": float, "int": int, "choice": str}
#: choices that come from the engine (``_options`` does not import it)
_ENGINE_CHOICES = {"metric": list(METRICS)}


_AUTO_TIP = (
    "Stop the phase when the KL divergence says it is done (opt-SNE's rules); the "
    "number above is the maximum"
)


def _option_widget(name: str):
    """The control of the t-SNE option ``name`` (label, default, range from _options)."""
    opt = WIDGET_OPTIONS[name]
    kwargs = opt.widget_kwargs()
    if name in _ENGINE_CHOICES:
        kwargs["choices"] = _ENGINE_CHOICES[name]
    return _WIDGET_TYPES[opt.widget["kind"]](**kwargs)


def _header(text: str) -> Label:
    lab = Label(value=f"<b>{text}</b>")
    return lab


def _box(widgets, **kw) -> Container:
    """A margin-less group of controls (labelled unless ``labels=False``)."""
    c = Container(widgets=widgets, labels=kw.pop("labels", True), **kw)
    c.margins = (0, 0, 0, 0)
    return c


def _compact(*combos) -> None:
    """Long choices (layer names, representations) must not widen the dock."""
    from qtpy.QtWidgets import QComboBox

    for combo in combos:
        combo.native.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        combo.native.setMinimumContentsLength(8)


class _FormScroll(QScrollArea):
    """A vertical scroll area as wide as the form in it needs (never clipped)."""

    def minimumSizeHint(self):
        hint = super().minimumSizeHint()
        form = self.widget()
        if form is not None:
            bar = self.verticalScrollBar().sizeHint().width()
            hint.setWidth(form.minimumSizeHint().width() + bar + 2 * self.frameWidth())
        return hint


class FormMixin:
    """Builds the controls and reads them (part of :class:`TSNEWidget`)."""

    def _build_form(self) -> None:
        # ---------------------------------------------------------------- data
        self.source = ComboBox(
            label="source",
            choices=self._source_choices,
            nullable=False,
            tooltip="A layer (image stack, layer with a features table, "
            "opened .h5ad) or an AnnData file",
        )
        self.file = FileEdit(label="AnnData file", mode="r", filter="*.h5ad", visible=False)
        self.representation = ComboBox(
            label="representation",
            choices=self._representation_choices,
            tooltip="X, an obsm entry (e.g. X_pca) or a layers entry",
        )
        self.drop_nonfinite = CheckBox(text="drop rows with NaN/inf", value=False)
        self.source_info = Label(value="")

        # ------------------------------------------------------------ settings
        # the t-SNE parameters: one control per widget option of _options.EMBED_OPTIONS
        for name in WIDGET_OPTIONS:
            setattr(self, name, _option_widget(name))
        # "until converged": the phase ends by its stopping rule, the number is its maximum
        self.n_iter_auto = CheckBox(
            text="iterations: until converged", value=False, tooltip=_AUTO_TIP
        )
        self.early_exaggeration_iter_auto = CheckBox(
            text="early exaggeration: until converged", value=False, tooltip=_AUTO_TIP
        )
        self.auto_learning_rate = CheckBox(
            text="automatic learning rate", value=True, tooltip="n / exaggeration (recommended)"
        )
        self.n_jobs = SpinBox(
            label="threads (0 = all)", value=0, min=0, max=max(1, os.cpu_count() or 1)
        )
        self.update_interval = SpinBox(
            label="live update every",
            value=10,
            min=1,
            max=1000,
            tooltip="Iterations between updates of the map",
        )
        self.subsample = CheckBox(
            text="subsample and extend, sample size",
            value=False,
            tooltip="For large data: map a random sample, place the "
            "other samples into it, then optimise all",
        )
        self.sample_size = SpinBox(
            label="sample size", value=5000, min=10, max=100_000_000, step=1000, enabled=False
        )

        # --------------------------------------------------------------- run
        self.run_button = PushButton(text="Run")
        self.stop_button = PushButton(text="Stop", enabled=False)
        self.continue_button = PushButton(text="Continue", enabled=False)
        self.status = Label(value="Choose a source and press Run.")

        # ------------------------------------------------------- add samples
        self.add_source = ComboBox(
            label="new samples", choices=self._add_source_choices, nullable=False
        )
        self.add_file = FileEdit(label="AnnData file", mode="r", filter="*.h5ad", visible=False)
        self.add_representation = ComboBox(
            label="representation", choices=self._add_representation_choices
        )
        self.batch_name = LineEdit(label="batch name", value="new")
        self.add_button = PushButton(text="Add samples", enabled=False)

        # ------------------------------------------------------------ export
        self.export_path = FileEdit(
            label="save to",
            mode="w",
            filter="AnnData (*.h5ad);;CSV table (*.csv);;TSV table (*.tsv)",
            tooltip=".h5ad: AnnData for scanpy (obsm['X_tsne']); .csv / .tsv: a table of "
            "the points' features (ids, measurements, groups) and coordinates",
        )
        self.export_key = LineEdit(label="obsm key", value="X_tsne")
        self.write_back = CheckBox(
            text="write the map into each source file instead",
            value=False,
            tooltip="Adds obsm[key] to the .h5ad files the map and the added samples came "
            "from (nothing else in them changes)",
        )
        self.export_button = PushButton(text="Export", enabled=False)

        self.message = Label(value="")
        from qtpy.QtWidgets import QSizePolicy

        for lab in (self.message, self.source_info, self.status):
            lab.native.setWordWrap(True)
            lab.native.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.show_advanced = CheckBox(text="show advanced settings", value=False)

        box = _box
        self._advanced = box(
            [
                self.auto_learning_rate,
                box([self.learning_rate, self.metric, self.init, self.seed, self.n_jobs]),
            ],
            labels=False,
        )
        self._advanced.visible = False
        buttons = box(
            [self.run_button, self.stop_button, self.continue_button],
            layout="horizontal",
            labels=False,
        )
        content = Container(
            labels=False,
            widgets=[
                _header("Measure objects"),
                self._build_measure_form(),
                _header("Data"),
                box([self.source, self.file, self.representation]),
                self.drop_nonfinite,
                self.source_info,
                _header("t-SNE"),
                box(
                    [
                        self.perplexity,
                        self.n_iter,
                        self.n_iter_auto,
                        self.early_exaggeration,
                        self.early_exaggeration_iter,
                        self.early_exaggeration_iter_auto,
                        self.exaggeration,
                        self.update_interval,
                    ]
                ),
                self.show_advanced,
                self._advanced,
                box([self.subsample, self.sample_size], layout="horizontal", labels=False),
                buttons,
                self.status,
                self._build_colour_form(),
                _header("Select and annotate"),
                self._build_selection_form(),
                _header("Add samples"),
                box([self.add_source, self.add_file, self.add_representation, self.batch_name]),
                self.add_button,
                _header("Export"),
                box([self.export_path, self.export_key]),
                self.write_back,
                self.export_button,
                self.message,
            ],
        )
        content.margins = (6, 4, 6, 4)
        self._content = content
        # napari docks the widget's own QWidget: the form scrolls inside it, so that a
        # tall form never makes napari's window taller than the screen
        from qtpy.QtCore import Qt
        from qtpy.QtWidgets import QFrame

        scroll = _FormScroll()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(content.native)
        self.native.layout().addWidget(scroll)
        self._scroll = scroll
        self.margins = (0, 0, 0, 0)
        _compact(
            self.source,
            self.representation,
            self.metric,
            self.init,
            self.colour_by,
            self.add_source,
            self.add_representation,
        )
        self._locked_while_running = [
            self.source,
            self.file,
            self.representation,
            self.drop_nonfinite,
            self.perplexity,
            self.n_iter,
            self.n_iter_auto,
            self.early_exaggeration,
            self.early_exaggeration_iter,
            self.early_exaggeration_iter_auto,
            self.auto_learning_rate,
            self.learning_rate,
            self.metric,
            self.init,
            self.seed,
            self.n_jobs,
            self.subsample,
            self.sample_size,
            self.run_button,
            self.continue_button,
            self.add_source,
            self.add_file,
            self.add_representation,
            self.batch_name,
            self.add_button,
            self.export_path,
            self.export_key,
            self.write_back,
            self.export_button,
        ]

    def _source_choices(self, widget=None):
        layers = [] if self._closed else usable_layers(self._viewer.layers)
        return [(layer.name, layer) for layer in reversed(layers)] + [(ANNDATA_FILE, ANNDATA_FILE)]

    def _add_source_choices(self, widget=None):
        layers = [] if self._closed else usable_layers(self._viewer.layers)
        return [(layer.name, layer) for layer in reversed(layers)] + [(ANNDATA_FILE, ANNDATA_FILE)]

    def _adata_of(self, choice, file_value, cache):
        """The AnnData behind a source choice (a file or a layer read from one), or None."""
        if choice is None:
            return None
        if isinstance(choice, str) and choice == ANNDATA_FILE:
            return self._cached_file(file_value, cache, quiet=True)
        return layer_adata(choice)

    def _representations_of(self, choice, file_value, cache) -> list[str]:
        if choice is None:
            return []
        if isinstance(choice, str) and choice == ANNDATA_FILE:
            adata = self._adata_of(choice, file_value, cache)
            if adata is None:
                return []
            from ...io import list_representations

            return list(list_representations(adata))
        try:
            return layer_representations(choice)
        except Exception:
            return []

    def _representation_choices(self, widget=None):
        return self._representations_of(self.source.value, self.file.value, self._file_cache)

    def _add_representation_choices(self, widget=None):
        return self._representations_of(self.add_source.value, self.add_file.value, self._add_cache)

    @staticmethod
    def _path_of(value) -> str | None:
        text = "" if value is None else str(value)
        return None if text.strip() in ("", ".") else text

    def _cached_file(self, value, cache, *, quiet: bool):
        path = self._path_of(value)
        if path is None:
            return None
        key = str(Path(path).expanduser().resolve())
        if key not in cache:
            try:
                cache.clear()
                cache[key] = load_anndata_file(key)
            except SourceError as err:
                cache[key] = err
        got = cache[key]
        if isinstance(got, Exception):
            if not quiet:
                raise got
            return None
        return got

    @staticmethod
    def _preferred_representation(choices: list[str], adata=None) -> str | None:
        """scanpy's rule (``tl.choose_representation``): X for an AnnData of at most
        ``N_PCS`` (50) variables, else its PCA; then X, then anything but a map."""
        if adata is not None and "X" in choices:
            from ...tl import uses_x

            if uses_x(adata):
                return "X"
        for name in ("obsm/X_pca", "X"):
            if name in choices:
                return name
        for name in choices:
            if not name.startswith(("obsm/X_tsne", "obsm/X_umap")):
                return name
        return choices[0] if choices else None

    def _on_source_changed(self, *args):
        self.file.visible = self.source.value == ANNDATA_FILE
        self._on_file_changed()

    def _on_file_changed(self, *args):
        """New representations to choose from: pick the preferred one."""
        self.representation.reset_choices()
        pref = self._preferred_representation(
            list(self.representation.choices),
            self._adata_of(self.source.value, self.file.value, self._file_cache),
        )
        if pref is not None:
            self.representation.value = pref
        self._update_source_info()

    def _on_add_source_changed(self, *args):
        self.add_file.visible = self.add_source.value == ANNDATA_FILE
        self.add_representation.reset_choices()
        pref = self._preferred_representation(
            list(self.add_representation.choices),
            self._adata_of(self.add_source.value, self.add_file.value, self._add_cache),
        )
        if self._source is not None and self._source.representation in list(
            self.add_representation.choices
        ):
            pref = self._source.representation
        if pref is not None:
            self.add_representation.value = pref

    def _on_add_file_changed(self, *args):
        self._on_add_source_changed()

    def _update_source_info(self, *args):
        try:
            src = self._build_source(
                self.source.value, self.file.value, self.representation.value, self._file_cache
            )
        except SourceError as err:
            self.source_info.value = f"<span style='color:#e8553e'>{err}</span>"
            return
        if src is None:
            self.source_info.value = ""
            return
        text = src.describe()
        n_bad = int(count_nonfinite_rows(src.X).sum())
        if n_bad:
            text += f"; {n_bad:,} rows with NaN/inf" + (
                " will be dropped"
                if self.drop_nonfinite.value
                else " (tick 'drop rows with NaN/inf')"
            )
        self.source_info.value = text

    def _sync_enabled(self, *args):
        running = self.is_running or self._add_worker is not None
        for w in self._locked_while_running:
            w.enabled = not running
        if not running:
            self.learning_rate.enabled = not self.auto_learning_rate.value
            self.sample_size.enabled = bool(self.subsample.value)
            has_map = (
                self._layer is not None and self._run is not None and self._run.emb is not None
            )
            self.continue_button.enabled = has_map and self._n_added == 0
            self.add_button.enabled = has_map
            self.export_button.enabled = self._layer is not None
        self.stop_button.enabled = self.is_running

    def _build_source(self, choice, file_value, representation, cache) -> FeatureSource | None:
        if choice is None:
            return None
        if isinstance(choice, str) and choice == ANNDATA_FILE:
            path = self._path_of(file_value)
            if path is None:
                return None
            adata = self._cached_file(file_value, cache, quiet=False)
            return source_from_anndata(
                adata,
                representation or "X",
                name=Path(path).stem,
                path=str(Path(path).expanduser().resolve()),
            )
        if choice not in self._viewer.layers:
            raise SourceError("The chosen layer is no longer in the viewer.")
        if layer_adata(choice) is not None:
            return source_from_layer(choice, representation or "X")
        return source_from_layer(choice, representation)

    def _checked_source(self, choice, file_value, representation, cache) -> FeatureSource:
        if isinstance(choice, str) and choice == ANNDATA_FILE and self._path_of(file_value) is None:
            raise SourceError("Choose an AnnData (.h5ad) file first.")
        src = self._build_source(choice, file_value, representation, cache)
        if src is None:
            raise SourceError("Choose a source: a layer or an AnnData file.")
        return check_source(src, drop_nonfinite=bool(self.drop_nonfinite.value))

    def show_anndata(self, adata, *, name: str = "adata", representation: str | None = None):
        """Take an in-memory AnnData as the source and return its layer.

        A Points layer carrying *adata* (what the reader makes of an ``.h5ad`` file) is
        added and chosen, so the map is written into this same object (``obsm``)."""
        from ...io import list_representations
        from ..reader import adata_layer_data

        if not all(hasattr(adata, a) for a in ("obs", "obsm", "n_obs")):
            raise TypeError(f"show_anndata needs an AnnData object, not {type(adata).__name__}.")
        choices = list(list_representations(adata))
        if representation is not None and representation not in choices:
            raise SourceError(
                f"{representation!r} is not a representation of this AnnData; "
                f"choose one of {', '.join(choices)}."
            )
        data, kwargs, _ = adata_layer_data(adata, name)
        layer = self._viewer.add_points(data, **kwargs)
        self.source.value = layer
        if representation is not None:
            self.representation.value = representation
        return layer

    def _params(self) -> dict[str, Any]:
        """TSNE keyword arguments from the controls."""
        values = {
            name: _VALUE_TYPES[opt.widget["kind"]](getattr(self, name).value)
            for name, opt in WIDGET_OPTIONS.items()
        }
        if self.auto_learning_rate.value:
            values["learning_rate"] = "auto"
        for name in ("n_iter", "early_exaggeration_iter"):
            if getattr(self, f"{name}_auto").value:
                values[name] = f"auto:{values[name]}" if values[name] > 0 else 0
        return tsne_kwargs(values, threads=int(self.n_jobs.value))
