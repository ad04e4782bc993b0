"""The napari layer of napari-tsne: the dock widget, in parts (see :mod:`.widget`)."""

from .widget import TSNEWidget

__all__ = ["TSNEWidget"]
