"""The galaxies sample (objects in an image, measured), without a window: its layer
data, its features table, and the manifest entry that offers it."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("skimage")

from napari_tsne.plugin.sample_data import galaxies  # noqa: E402


@pytest.fixture(scope="module")
def layers():
    return galaxies()


def test_galaxies_layers(layers):
    (rgb, rgb_kw, rgb_type), (labels, labels_kw, labels_type) = layers
    assert (rgb_type, labels_type) == ("image", "labels")
    assert rgb.shape == (872, 1000, 3) and rgb.dtype == np.uint8 and rgb_kw["rgb"]
    assert labels.shape == rgb.shape[:2] and labels.dtype.kind == "i"
    assert "Hubble" in rgb_kw["name"] and "galaxies" in labels_kw["name"]
    ids = np.unique(labels)[1:]
    assert 500 <= ids.size <= 800
    np.testing.assert_array_equal(ids, np.arange(1, ids.size + 1))  # sequential


def test_galaxies_features_are_the_objects_measurements(layers):
    rgb, labels = layers[0][0], layers[1][0]
    features = layers[1][1]["features"]
    ids = np.unique(labels)[1:]
    assert features.columns[0] == "label"
    np.testing.assert_array_equal(features["label"], ids)
    np.testing.assert_array_equal(features["area"], np.bincount(labels.ravel())[1:])
    for c, channel in enumerate(("red", "green", "blue")):
        sums = np.bincount(labels.ravel(), weights=rgb[..., c].ravel())[1:]
        np.testing.assert_allclose(
            features[f"intensity_mean-hubble-{channel}"], sums / features["area"]
        )
    numeric = features.drop(columns="label")
    assert np.isfinite(numeric.to_numpy(dtype=float)).all()
    assert numeric.shape[1] >= 20


def test_galaxies_layers_build_in_napari(layers):
    """napari accepts the layer data tuples (kwargs, features) as a viewer would."""
    napari_layers = pytest.importorskip("napari.layers")
    built = [napari_layers.Layer.create(data, kw, kind) for data, kw, kind in layers]
    assert isinstance(built[0], napari_layers.Image) and built[0].rgb
    assert isinstance(built[1], napari_layers.Labels)
    assert list(built[1].features["label"]) == list(layers[1][1]["features"]["label"])


def test_galaxies_is_offered_as_a_sample():
    npe2 = pytest.importorskip("npe2")
    pm = npe2.PluginManifest.from_distribution("napari-tsne")
    samples = {s.key: s for s in pm.contributions.sample_data}
    assert "Galaxies" in samples["galaxies"].display_name
    command = {c.id: c for c in pm.contributions.commands}[samples["galaxies"].command]
    assert command.python_name == "napari_tsne.plugin.sample_data:galaxies"
