"""Tests of gans.data: the local TFDS builders, TFDS image datasets (mocked) and the grain pipeline."""

import itertools
import os
import time

import numpy as np
import pytest
import tensorflow_datasets as tfds

from gans import data
from gans.data import digits as digits_lib
from gans.data import mixtures as mixtures_lib
from data_checks import assert_same_batches as _assert_same_batches
from data_checks import make_iterator as _iterator
from data_checks import take as _take


@pytest.fixture(scope='session')
def data_dir(tmp_path_factory):
    """One data dir for the session: each local dataset is built once.

    Under pytest-xdist the workers share one dir (the build takes a file lock), so the datasets
    are still built once per run.
    """
    if os.environ.get('PYTEST_XDIST_WORKER'):
        shared = tmp_path_factory.getbasetemp().parent / 'tfds_data'
        shared.mkdir(exist_ok=True)
        return str(shared)
    return str(tmp_path_factory.mktemp('tfds_data'))


def _whole_split(name, data_dir, split='train'):
    """Every example of a split, in stored order, as one batch."""
    n = data.dataset_spec(name).num_examples[split]
    (batch,) = list(_iterator(name, data_dir, split=split, global_batch_size=n, shuffle=False,
                              num_epochs=1))
    return batch


# --------------------------------------------------------------------------------------------
# digits


def test_digits_builds_with_expected_contents(data_dir):
    spec = data.dataset_spec('digits', data_dir=data_dir)
    assert spec == data.DatasetSpec('digits', 'image', (32, 32, 1), 10,
                                    {'train': 1497, 'test': 300}, {'x': (32, 32, 1)})
    builder = data.prepare_local('digits', data_dir)
    assert builder.info.file_format == tfds.core.FileFormat.ARRAY_RECORD
    assert {k: v.num_examples for k, v in builder.info.splits.items()} == spec.num_examples
    assert sum(spec.num_examples.values()) == 1797

    for split, n in spec.num_examples.items():
        batch = _whole_split('digits', data_dir, split)
        x, label = batch['x'], batch['label']
        assert x.shape == (n, 32, 32, 1) and x.dtype == np.float32
        assert label.shape == (n,) and label.dtype == np.int32
        assert x.min() >= -1 and x.max() <= 1
        assert x.min() == -1 and x.max() == 1  # Black background, saturated strokes.
        counts = np.bincount(label, minlength=10)
        assert len(counts) == 10
        expected = n / 10
        assert np.all(np.abs(counts - expected) <= 0.06 * expected + 1), counts


def test_digits_split_is_stratified_and_disjoint():
    from sklearn.datasets import load_digits  # pylint: disable=g-import-not-at-top
    labels = load_digits().target
    train, test = digits_lib.stratified_split(labels)
    assert len(test) == 300 and len(train) == 1497
    assert not set(train) & set(test)
    per_class = np.bincount(labels[test], minlength=10)
    assert per_class.min() >= 29 and per_class.max() <= 31
    np.testing.assert_array_equal(digits_lib.stratified_split(labels)[1], test)  # Seeded.


def test_digits_look_like_the_sklearn_originals(data_dir):
    """Downsampled back to 8x8, every stored image matches its scikit-learn original."""
    from sklearn.datasets import load_digits  # pylint: disable=g-import-not-at-top
    digits = load_digits()
    train_idx, _ = digits_lib.stratified_split(digits.target)
    originals = digits.images[train_idx].reshape(len(train_idx), 64)
    original_labels = digits.target[train_idx]

    batch = _whole_split('digits', data_dir, 'train')
    x = (batch['x'][..., 0] + 1) / 2  # [N, 32, 32] in [0, 1]
    small = x.reshape(len(x), 8, 4, 8, 4).mean(axis=(2, 4)).reshape(len(x), 64)

    def standardize(a):
        a = a - a.mean(1, keepdims=True)
        return a / np.linalg.norm(a, axis=1, keepdims=True)

    corr = standardize(small) @ standardize(originals).T  # [stored, original]
    best = corr.argmax(1)
    assert len(np.unique(best)) >= 0.99 * len(best)  # (Nearly) a one-to-one match.
    best_corr = corr[np.arange(len(best)), best]
    assert np.median(best_corr) > 0.95 and best_corr.min() > 0.8
    assert np.mean(original_labels[best] == batch['label']) > 0.99
    # Intensity scale: 0..16 became -1..1.
    np.testing.assert_allclose(small.mean(), originals.mean() / 16, atol=0.02)


# --------------------------------------------------------------------------------------------
# Gaussian mixtures


def _published_centers(name):
    if name == 'ring8':
        angles = np.arange(8) * np.pi / 4
        return 2.0 * np.stack([np.cos(angles), np.sin(angles)], 1), 0.02
    grid = np.array([-4, -2, 0, 2, 4], np.float64)
    return np.array(list(itertools.product(grid, grid))), 0.05


@pytest.mark.parametrize('name', ['ring8', 'grid25'])
def test_mixture_points_sit_on_the_published_modes(data_dir, name):
    centers, std = _published_centers(name)
    spec = mixtures_lib.MIXTURES[name]
    assert spec.std == std
    # Same set of centers (order is ours).
    dist = np.linalg.norm(spec.centers[:, None] - centers[None], axis=-1)
    assert np.all(dist.min(1) < 1e-6) and len(spec.centers) == len(centers)

    assert data.dataset_spec(name) == data.DatasetSpec(
        name, 'points', (2,), len(centers), {'train': 100_000, 'test': 10_000}, {'x': (2,)})
    for split, n in (('train', 100_000), ('test', 10_000)):
        batch = _whole_split(name, data_dir, split)
        x, label = batch['x'], batch['label']
        assert x.shape == (n, 2) and x.dtype == np.float32 and label.dtype == np.int32
        # Each point lies within a few std of its own mode (P(r > 6 std) = e^-18 in 2-D).
        r = np.linalg.norm(x - spec.centers[label], axis=1)
        assert r.max() < 6 * std
        np.testing.assert_allclose(np.sqrt(np.mean(r ** 2) / 2), std, rtol=0.05)
        # And its nearest published center is its mode's.
        nearest = np.linalg.norm(x[:, None] - spec.centers[None], axis=-1).argmin(1)
        np.testing.assert_array_equal(nearest, label)
        counts = np.bincount(label, minlength=len(centers))
        assert counts.min() > 0.8 * n / len(centers)


def test_mixture_splits_differ(data_dir):
    train = _whole_split('ring8', data_dir, 'train')['x']
    test = _whole_split('ring8', data_dir, 'test')['x']
    assert not _rows(train) & _rows(test)


# --------------------------------------------------------------------------------------------
# Pipeline semantics


def test_same_seed_same_batches_and_different_seeds_differ(data_dir):
    # 64 does not divide 1497: 23 batches per epoch, so 30 batches cross an epoch boundary.
    a = _take(_iterator('digits', data_dir, global_batch_size=64, seed=3), 30)
    b = _take(_iterator('digits', data_dir, global_batch_size=64, seed=3), 30)
    _assert_same_batches(a, b)
    c = _take(_iterator('digits', data_dir, global_batch_size=64, seed=4), 30)
    assert not any(np.array_equal(x['x'], y['x']) for x, y in zip(a, c))
    for batch in a:
        assert batch['x'].shape == (64, 32, 32, 1) and batch['label'].shape == (64,)


def _rows(x):
    return {row.tobytes() for row in x}


def test_each_epoch_is_a_new_permutation(data_dir):
    # ring8/test: 10_000 distinct points, 10 batches of 1000 per epoch.
    it = _iterator('ring8', data_dir, split='test', global_batch_size=1000, seed=0)
    epochs = [np.concatenate([b['x'] for b in _take(it, 10)]) for _ in range(3)]
    everything = _rows(_whole_split('ring8', data_dir, 'test')['x'])
    assert len(everything) == 10_000
    for e in epochs:
        assert _rows(e) == everything  # Each epoch is exactly the split, each point once.
    assert not np.array_equal(epochs[0], epochs[1])
    assert not np.array_equal(epochs[1], epochs[2])


def test_epochs_drop_the_remainder_and_num_epochs_stops(data_dir):
    it = _iterator('digits', data_dir, global_batch_size=100, num_epochs=2)
    batches = list(it)
    assert len(batches) == 2 * (1497 // 100)
    unshuffled = list(_iterator('digits', data_dir, global_batch_size=100, num_epochs=1,
                                shuffle=False))
    stored = _whole_split('digits', data_dir)
    np.testing.assert_array_equal(np.concatenate([b['x'] for b in unshuffled]),
                                  stored['x'][:1400])


def test_processes_read_disjoint_slices_that_cover_an_epoch(data_dir):
    per_process = [
        list(_iterator('ring8', data_dir, split='test', global_batch_size=200, num_epochs=1,
                       process_index=p, process_count=2))
        for p in range(2)]
    assert len(per_process[0]) == len(per_process[1]) == 50
    assert all(b['x'].shape == (100, 2) for batches in per_process for b in batches)
    seen = [_rows(np.concatenate([b['x'] for b in batches])) for batches in per_process]
    assert len(seen[0]) == len(seen[1]) == 5000
    assert not seen[0] & seen[1]
    assert seen[0] | seen[1] == _rows(_whole_split('ring8', data_dir, 'test')['x'])


def test_processes_get_equal_batch_counts_when_the_split_is_odd(data_dir):
    # 1497 examples over 2 processes: both use 748 (one example left out), 37 batches of 20.
    counts = [len(list(_iterator('digits', data_dir, global_batch_size=40, num_epochs=1,
                                 process_index=p, process_count=2))) for p in range(2)]
    assert counts == [37, 37]


def test_global_batch_must_divide_among_processes(data_dir):
    with pytest.raises(ValueError, match='multiple of process_count'):
        _iterator('digits', data_dir, global_batch_size=65, process_index=0, process_count=2)


def test_default_process_index_and_count_come_from_jax(data_dir):
    it = data.make_iterator('digits', data_dir=data_dir, global_batch_size=8, seed=0)
    assert next(it)['x'].shape == (8, 32, 32, 1)


@pytest.mark.parametrize('stop_after', [0, 5, 23, 40])
def test_set_state_resumes_exactly(data_dir, stop_after):
    kwargs = dict(global_batch_size=64, seed=7)
    reference = _take(_iterator('digits', data_dir, **kwargs), stop_after + 30)
    it = _iterator('digits', data_dir, **kwargs)
    _take(it, stop_after)
    state = it.get_state()
    resumed = _iterator('digits', data_dir, **kwargs)
    resumed.set_state(state)
    _assert_same_batches(_take(resumed, 30), reference[stop_after:])
    _assert_same_batches(_take(it, 30), reference[stop_after:])  # The original carries on too.


def test_image_size_resizes(data_dir):
    spec = data.dataset_spec('digits', image_size=64)
    assert spec.shape == (64, 64, 1)
    batch = next(_iterator('digits', data_dir, global_batch_size=8, image_size=64))
    assert batch['x'].shape == (8, 64, 64, 1)
    assert batch['x'].min() >= -1 and batch['x'].max() <= 1
    with pytest.raises(ValueError, match='image_size'):
        data.dataset_spec('ring8', image_size=32)


def test_reading_digits_is_fast(data_dir):
    it = _iterator('digits', data_dir, global_batch_size=64)
    next(it)
    start = time.perf_counter()
    for _ in range(500):
        next(it)
    steps_per_s = 500 / (time.perf_counter() - start)
    assert steps_per_s > 500, steps_per_s  # Measured: ~20-30k/s.


# --------------------------------------------------------------------------------------------
# Building, data dirs and errors


def test_building_again_reuses_the_data(data_dir):
    builder = data.prepare_local('digits', data_dir)
    files = sorted(os.listdir(builder.data_dir))
    mtimes = [os.path.getmtime(os.path.join(builder.data_dir, f)) for f in files]
    again = data.prepare_local('digits', data_dir)
    assert sorted(os.listdir(again.data_dir)) == files
    assert [os.path.getmtime(os.path.join(again.data_dir, f)) for f in files] == mtimes


def test_data_dir_defaults_to_env(monkeypatch, tmp_path):
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    assert data.resolve_data_dir() == str(tmp_path)
    assert data.resolve_data_dir('/elsewhere') == '/elsewhere'
    monkeypatch.delenv(data.DATA_DIR_ENV)
    assert data.resolve_data_dir() is None  # TFDS's default.


def test_unknown_dataset_lists_the_valid_names(data_dir):
    with pytest.raises(ValueError, match='no_such_dataset') as info:
        _iterator('no_such_dataset', data_dir, global_batch_size=8)
    for name in ('digits', 'ring8', 'grid25', 'TFDS'):
        assert name in str(info.value)
    with pytest.raises(ValueError, match='digits, ring8, grid25'):
        data.dataset_spec('no_such_dataset')


def test_non_image_tfds_dataset_is_rejected(tmp_path):
    with pytest.raises(ValueError, match='image'):
        data.dataset_spec('imdb_reviews', data_dir=str(tmp_path))


def test_unprepared_tfds_dataset_says_how_to_prepare(tmp_path):
    empty = str(tmp_path / 'empty')
    for call in (lambda: data.dataset_spec('mnist', data_dir=empty),
                 lambda: _iterator('mnist', empty, global_batch_size=8)):
        with pytest.raises(data.DatasetNotPreparedError) as info:
            call()
        message = str(info.value)
        assert "'mnist'" in message
        assert f'tfds build mnist --file_format=array_record --data_dir {empty}' in message


# --------------------------------------------------------------------------------------------
# TFDS image datasets (mocked: tfds.testing.mock_data serves random examples to data sources)


@pytest.mark.parametrize('name,image_size,shape', [
    ('mnist', 32, (32, 32, 1)),
    ('mnist', None, (28, 28, 1)),
    ('cifar10', None, (32, 32, 3)),
    ('cifar10', 16, (16, 16, 3)),
])
def test_tfds_image_datasets(tmp_path, name, image_size, shape):
    with tfds.testing.mock_data(num_examples=50):
        spec = data.dataset_spec(name, image_size=image_size, data_dir=str(tmp_path))
        assert spec.kind == 'image' and spec.shape == shape and spec.num_classes == 10
        it = _iterator(name, str(tmp_path), global_batch_size=16, image_size=image_size)
        batches = _take(it, 7)  # 3 batches per epoch: crosses two epoch boundaries.
        state = it.get_state()
        after = _take(it, 3)
        resumed = _iterator(name, str(tmp_path), global_batch_size=16, image_size=image_size)
        resumed.set_state(state)
        _assert_same_batches(_take(resumed, 3), after)
    for batch in batches:
        assert batch['x'].shape == (16, *shape) and batch['x'].dtype == np.float32
        assert batch['x'].min() >= -1 and batch['x'].max() <= 1
        assert batch['x'].std() > 0.1  # Random images, scaled: not all one value.
        assert batch['label'].shape == (16,) and batch['label'].dtype == np.int32
        assert batch['label'].min() >= 0 and batch['label'].max() < 10


def test_tfds_unlabeled_non_square_images_are_center_cropped(tmp_path):
    with tfds.testing.mock_data(num_examples=8):
        spec = data.dataset_spec('celeb_a', image_size=32, data_dir=str(tmp_path))
        assert spec.shape == (32, 32, 3) and spec.num_classes is None
        batch = next(_iterator('celeb_a', str(tmp_path), global_batch_size=4, image_size=32))
    assert set(batch) == {'x'} and batch['x'].shape == (4, 32, 32, 3)


def test_resize_image_center_crops():
    image = np.zeros((6, 4, 1), np.uint8)
    image[1:5] = 255  # The central 4x4 square.
    np.testing.assert_array_equal(data.sources.resize_image(image, 4), np.full((4, 4, 1), 255))
    assert data.sources.resize_image(np.zeros((28, 28, 1), np.uint8), 32).shape == (32, 32, 1)
