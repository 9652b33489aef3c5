"""Tests of the Fashion-MNIST feature network: the shipped weights, its accuracy on the real
test split (when Debian's dataset-fashion-mnist is installed) and its registration."""

import os

import jax
import numpy as np
import pytest

from gans.metrics import digits_classifier
from gans.metrics import fashion_classifier
from gans.metrics import feature_networks

DEBIAN_DIR = '/usr/share/datasets/fashion-mnist'


@pytest.fixture(scope='module')
def params():
    return fashion_classifier.load_params()


def test_shipped_weights_load_as_float16_under_the_size_budget(params):
    from flax import serialization  # pylint: disable=g-import-not-at-top
    path = fashion_classifier.WEIGHTS_PATH
    assert os.path.getsize(path) < 1.5e6
    with open(path, 'rb') as f:
        stored = serialization.msgpack_restore(f.read())
    assert {leaf.dtype for leaf in jax.tree.leaves(stored)} == {np.dtype(np.float16)}
    assert {leaf.dtype for leaf in jax.tree.leaves(params)} == {np.dtype(np.float32)}
    with pytest.raises(ValueError, match='FashionClassifier'):
        fashion_classifier.load_params(digits_classifier.WEIGHTS_PATH)
    with pytest.raises(FileNotFoundError, match='train_fashion_classifier'):
        fashion_classifier.load_params('/nonexistent/weights.msgpack')


@pytest.mark.skipif(not os.path.isdir(DEBIAN_DIR), reason='apt-get install dataset-fashion-mnist')
def test_accuracy_on_the_real_test_split(params, data_dir, monkeypatch):
    monkeypatch.delenv('GANS_FASHION_MNIST_DIR', raising=False)
    images, labels = fashion_classifier.load_split('test', data_dir, limit=6000)
    result = fashion_classifier.accuracy(params, images, labels)
    assert result['accuracy'] >= 0.92, result
    assert min(result['per_class'].values()) >= 0.6, result  # Shirt is the hardest class.


def test_the_registered_network_embeds_uint8_and_float_images_alike(params):
    network = feature_networks.load_feature_network('fashion')
    assert network.name == 'fashion' and 'fashion' in feature_networks.FEATURE_NETWORKS
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 28, 28, 1), dtype=np.uint8)
    out = network.embed(images)
    assert out['features'].shape == (6, 128) and out['probs'].shape == (6, 10)
    np.testing.assert_allclose(out['probs'].sum(-1), 1, rtol=1e-5)
    assert (out['features'] >= 0).all()  # ReLU activations.
    as_float = network.embed(images.astype(np.float32) / 127.5 - 1)
    np.testing.assert_allclose(as_float['features'], out['features'], rtol=1e-5, atol=1e-5)
    # 28x28 goes through the bilinear resize to 32x32 first.
    resized = fashion_classifier.to_network_input(images)
    assert resized.shape == (6, 32, 32, 1)
    np.testing.assert_allclose(fashion_classifier.embed(params, resized)['features'], out['features'],
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match='grayscale'):
        network.embed(np.zeros((2, 32, 32, 3), np.uint8))


@pytest.mark.parametrize('dataset,network', [
    ('fashion_mnist', 'fashion'), ('fashion_edges', 'fashion'), ('fashion_sneaker2boot', 'fashion'),
    ('fashion_footwear3', 'fashion'), ('digits', 'digits'), ('cifar10', 'inception'),
    ('mnist', 'inception'),
])
def test_default_feature_network(dataset, network):
    assert feature_networks.default_feature_network(dataset) == network


def test_augment_shifts_and_optionally_flips():
    image = -np.ones((1, 16, 16, 1), np.float32)
    image[0, 6, 4, 0] = 1  # One bright pixel.
    images = np.repeat(image, 1000, axis=0)
    for max_shift, flip in ((1, False), (2, True)):
        out = np.asarray(fashion_classifier.augment(jax.random.key(0), images, max_shift, flip))
        rows, cols = np.nonzero(out[..., 0] == 1)[1:]
        assert len(rows) == 1000  # Every image keeps its one pixel (no wrap-around, -1 fill).
        assert (out == -1).sum() == 1000 * (16 * 16 - 1)
        assert np.all(np.abs(rows - 6) <= max_shift)
        mirrored = np.abs(cols - (15 - 4)) <= max_shift
        assert np.all(mirrored | (np.abs(cols - 4) <= max_shift))
        if flip:
            assert 400 < mirrored.sum() < 600  # About half are flipped.
        else:
            assert not mirrored.any()
        # Every shift (and flip) occurs (each of the <= 50 has probability >= 1/50 per image).
        assert len(set(zip(rows, cols))) == (2 * max_shift + 1) ** 2 * (2 if flip else 1)
