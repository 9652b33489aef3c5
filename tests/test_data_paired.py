"""Tests of paired (fashion_edges) and unpaired (fashion_sneaker2boot, TFDS cycle_gan mocked)
datasets in gans.data: contents, epoch orders per domain, exact resume and process slices."""

import gzip
import os
import struct

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image
from skimage import feature

from gans import data
from gans.data import fashion
from gans.data import pipeline
from data_checks import assert_same_batches as _assert_same_batches
from data_checks import make_iterator as _iterator
from data_checks import take as _take
from data_checks import write_tfds_metadata as _write_tfds_metadata

DEBIAN_DIR = '/usr/share/datasets/fashion-mnist'
SANDAL, SNEAKER, BOOT = 5, 7, 9
# Train: 30 sneakers, 20 ankle boots, 10 sandals and 60 others; test: 6 / 5 / 4 / 15.
TRAIN_COUNTS = {SNEAKER: 30, BOOT: 20, SANDAL: 10, 0: 10, 1: 10, 2: 10, 3: 10, 4: 10, 6: 5, 8: 5}
TEST_COUNTS = {SNEAKER: 6, BOOT: 5, SANDAL: 4, 0: 5, 3: 5, 8: 5}


def _idx_bytes(array):
    header = struct.pack('>BBBB', 0, 0, 0x08, array.ndim) + struct.pack(f'>{array.ndim}I', *array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_idx(directory, images, labels):
    os.makedirs(directory, exist_ok=True)
    names = {'train': ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'),
             'test': ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz')}
    for split, (image_name, label_name) in names.items():
        for name, array in ((image_name, images[split]), (label_name, labels[split])):
            with gzip.open(os.path.join(directory, name), 'wb') as f:
                f.write(_idx_bytes(array))
    return str(directory)


def _shoe_like(rng, n):
    """Bright filled boxes with a dark stripe on black, like product photos: clear outlines."""
    images = np.zeros((n, 28, 28), np.uint8)
    for im in images:
        top, left = rng.integers(3, 12, 2)
        bottom, right = top + rng.integers(8, 14), left + rng.integers(8, 14)
        im[top:bottom, left:right] = rng.integers(150, 256)
        im[bottom - 3, left:right] = rng.integers(0, 60)  # A "sole" line.
    return images


def _labels(rng, counts):
    return rng.permutation(np.concatenate([np.full(n, c) for c, n in counts.items()])).astype(np.uint8)


def _tiny_fashion(seed=0):
    rng = np.random.default_rng(seed)
    labels = {'train': _labels(rng, TRAIN_COUNTS), 'test': _labels(rng, TEST_COUNTS)}
    images = {s: _shoe_like(rng, len(l)) for s, l in labels.items()}
    return images, labels


@pytest.fixture(scope='session')
def tiny_files(tmp_path_factory):
    images, labels = _tiny_fashion()
    # The same data with 5 of the 20 train boots relabeled as bags: domain B shrinks to 15.
    fewer = {s: l.copy() for s, l in labels.items()}
    fewer['train'][np.flatnonzero(fewer['train'] == BOOT)[:5]] = 8
    return {
        'images': images, 'labels': labels, 'fewer_boot_labels': fewer,
        'idx': _write_idx(tmp_path_factory.mktemp('idx'), images, labels),
        'idx_fewer': _write_idx(tmp_path_factory.mktemp('idx_fewer'), images, fewer),
        'data_dir': str(tmp_path_factory.mktemp('tfds')),
        'data_dir_fewer': str(tmp_path_factory.mktemp('tfds_fewer')),
    }


@pytest.fixture
def tiny(monkeypatch, tiny_files):
    monkeypatch.setenv(fashion.IDX_DIR_ENV, tiny_files['idx'])
    return tiny_files


def _rows(x):
    return [row.tobytes() for row in x]


def _indices(images, reference):
    """Positions in `reference` (all distinct) of each image of `images`."""
    where = {row: i for i, row in enumerate(_rows(reference))}
    assert len(where) == len(reference)
    return np.array([where[row] for row in _rows(images)])


def _bicubic32(image28):
    return np.asarray(Image.fromarray(image28).resize((32, 32), Image.BICUBIC))


def _canny(target_uint8):
    """The documented edge map: Canny, sigma 1, thresholds 0.1 / 0.2 on [0, 1]; black on white."""
    edges = feature.canny(target_uint8 / 255.0, sigma=1.0, low_threshold=0.1, high_threshold=0.2)
    return np.where(edges, 0, 255).astype(np.uint8)


def _to_uint8(x):
    return np.rint((x + 1) * 127.5).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# fashion_edges (paired)


def test_fashion_edges_pairs_canny_sketches_with_the_footwear(tiny):
    data_dir = tiny['data_dir']
    spec = data.dataset_spec('fashion_edges', data_dir=data_dir)
    assert spec == data.DatasetSpec(
        'fashion_edges', 'paired', (32, 32, 1), 10, {'train': 60, 'test': 15},
        {'source': (32, 32, 1), 'target': (32, 32, 1)})
    for split in ('train', 'test'):
        batch = data.split_arrays('fashion_edges', split=split, data_dir=data_dir)
        assert set(batch) == {'source', 'target', 'label'}
        labels, images = tiny['labels'][split], tiny['images'][split]
        footwear = np.flatnonzero(np.isin(labels, [SANDAL, SNEAKER, BOOT]))
        np.testing.assert_array_equal(batch['label'], labels[footwear])  # Parent order, footwear only.
        for key in ('source', 'target'):
            x = batch[key]
            assert x.shape == (len(footwear), 32, 32, 1) and x.dtype == np.float32
            assert x.min() == -1 and x.max() == 1
        target = _to_uint8(batch['target'])[..., 0]
        source = _to_uint8(batch['source'])[..., 0]
        for i, j in enumerate(footwear):
            np.testing.assert_array_equal(target[i], _bicubic32(images[j]))
            np.testing.assert_array_equal(source[i], _canny(target[i]))
        assert set(np.unique(batch['source'])) == {-1.0, 1.0}  # Binary: black lines on white.
        black = (source == 0).mean(axis=(1, 2))
        assert black.min() > 0.02 and black.max() < 0.35  # Every sketch has lines, mostly white.


def test_paired_iterator_resumes_exactly(tiny):
    kwargs = dict(global_batch_size=8, seed=3)
    reference = _take(_iterator('fashion_edges', tiny['data_dir'], **kwargs), 20)  # 7 per epoch.
    for stop in (0, 5, 9):
        it = _iterator('fashion_edges', tiny['data_dir'], **kwargs)
        _take(it, stop)
        resumed = _iterator('fashion_edges', tiny['data_dir'], **kwargs)
        resumed.set_state(it.get_state())
        _assert_same_batches(_take(resumed, 20 - stop), reference[stop:])
    assert not np.array_equal(reference[0]['target'], reference[7]['target'])  # A new epoch order.


def test_paired_process_slices_partition_the_split(tiny):
    data_dir = tiny['data_dir']
    whole = data.split_arrays('fashion_edges', data_dir=data_dir)['target']
    # Unshuffled: process p reads examples p, p + 2, ... in order.
    for p in range(2):
        batches = list(_iterator('fashion_edges', data_dir, global_batch_size=10, shuffle=False,
                                 num_epochs=1, process_index=p, process_count=2))
        assert len(batches) == 6 and all(b['source'].shape == (5, 32, 32, 1) for b in batches)
        read = np.concatenate([b['target'] for b in batches])
        np.testing.assert_array_equal(_indices(read, whole), np.arange(p, 60, 2))
    # Shuffled: each epoch, the two slices of every global batch are disjoint and together
    # cover the split.
    slices = [_take(_iterator('fashion_edges', data_dir, global_batch_size=10, seed=1,
                              process_index=p, process_count=2), 12) for p in range(2)]
    for epoch in range(2):
        seen = [np.concatenate([_indices(b['target'], whole) for b in s[6 * epoch:6 * epoch + 6]])
                for s in slices]
        assert not set(seen[0]) & set(seen[1])
        np.testing.assert_array_equal(np.sort(np.concatenate(seen)), np.arange(60))


# --------------------------------------------------------------------------------------------
# fashion_sneaker2boot (unpaired, local)


def _domain_images(name, data_dir, split):
    return data.split_arrays(name, split=split, data_dir=data_dir)['x']


def test_sneaker2boot_domains(tiny):
    data_dir = tiny['data_dir']
    spec = data.dataset_spec('fashion_sneaker2boot', data_dir=data_dir)
    assert spec == data.DatasetSpec(
        'fashion_sneaker2boot', 'unpaired', (32, 32, 1), 10,
        {'trainA': 30, 'trainB': 20, 'testA': 6, 'testB': 5}, {'a': (32, 32, 1), 'b': (32, 32, 1)})
    whole = data.split_arrays('fashion_sneaker2boot', split='test', data_dir=data_dir)
    assert whole['a'].shape == (6, 32, 32, 1) and whole['b'].shape == (5, 32, 32, 1)
    images, labels = tiny['images']['test'], tiny['labels']['test']
    for key, cls in (('a', SNEAKER), ('b', BOOT)):
        np.testing.assert_array_equal(whole[f'{key}_label'], np.full(len(whole[key]), cls))
        expected = np.stack([_bicubic32(images[j]) for j in np.flatnonzero(labels == cls)])
        np.testing.assert_array_equal(_to_uint8(whole[key])[..., 0], expected)
    # A domain split on its own is an image dataset.
    single = data.split_arrays('fashion_sneaker2boot', split='testB', data_dir=data_dir)
    assert set(single) == {'x', 'label'}
    np.testing.assert_array_equal(single['x'], whole['b'])


def test_fashion_footwear_keeps_the_three_classes_with_their_labels(tiny):
    """StarGAN's set: every sandal, sneaker and ankle boot of a split, in the parent's order."""
    data_dir = tiny['data_dir']
    spec = data.dataset_spec('fashion_footwear', data_dir=data_dir)
    assert spec == data.DatasetSpec('fashion_footwear', 'image', (32, 32, 1), 10, {'train': 60, 'test': 15},
                                    {'x': (32, 32, 1)})
    whole = data.split_arrays('fashion_footwear', split='test', data_dir=data_dir)
    images, labels = tiny['images']['test'], tiny['labels']['test']
    kept = np.flatnonzero(np.isin(labels, (SANDAL, SNEAKER, BOOT)))
    np.testing.assert_array_equal(whole['label'], labels[kept])
    np.testing.assert_array_equal(_to_uint8(whole['x'])[..., 0], np.stack([_bicubic32(images[j]) for j in kept]))


def test_unpaired_domains_have_their_own_epochs(tiny):
    data_dir = tiny['data_dir']
    all_a, all_b = (_domain_images('fashion_sneaker2boot', data_dir, s) for s in ('trainA', 'trainB'))
    # Batches of 5: domain A (30) has 6 per epoch, B (20) has 4.
    batches = _take(_iterator('fashion_sneaker2boot', data_dir, global_batch_size=5, seed=2), 12)
    for b in batches:
        assert set(b) == {'a', 'b', 'a_label', 'b_label'}
        assert b['a'].shape == b['b'].shape == (5, 32, 32, 1)
        assert (b['a_label'] == SNEAKER).all() and (b['b_label'] == BOOT).all()
    order_a = _indices(np.concatenate([b['a'] for b in batches]), all_a)
    order_b = _indices(np.concatenate([b['b'] for b in batches]), all_b)
    epochs_a, epochs_b = order_a.reshape(2, 30), order_b.reshape(3, 20)
    for epoch in (*epochs_a, *epochs_b):
        np.testing.assert_array_equal(np.sort(epoch), np.arange(len(epoch)))  # A permutation.
    assert not np.array_equal(epochs_a[0], epochs_a[1])
    assert not np.array_equal(epochs_b[0], epochs_b[1])
    # An epoch of an unpaired dataset is one of its larger domain.
    assert len(list(_iterator('fashion_sneaker2boot', data_dir, global_batch_size=5,
                              num_epochs=2))) == 12


def test_a_domains_order_does_not_depend_on_the_other_domain(tiny, tiny_files, monkeypatch):
    kwargs = dict(global_batch_size=5, seed=4)
    batches = _take(_iterator('fashion_sneaker2boot', tiny['data_dir'], **kwargs), 9)
    monkeypatch.setenv(fashion.IDX_DIR_ENV, tiny_files['idx_fewer'])
    spec = data.dataset_spec('fashion_sneaker2boot', data_dir=tiny_files['data_dir_fewer'])
    assert spec.num_examples['trainB'] == 15 and spec.num_examples['trainA'] == 30
    fewer = _take(_iterator('fashion_sneaker2boot', tiny_files['data_dir_fewer'], **kwargs), 9)
    for x, y in zip(batches, fewer):
        np.testing.assert_array_equal(x['a'], y['a'])  # Domain A's order is unchanged.
    assert not all(np.array_equal(x['b'], y['b']) for x, y in zip(batches, fewer))


def test_unpaired_iterator_resumes_exactly(tiny):
    kwargs = dict(global_batch_size=4, seed=9)
    reference = _take(_iterator('fashion_sneaker2boot', tiny['data_dir'], **kwargs), 25)
    for stop in (1, 5, 13):  # B has 5 batches per epoch, A 7: states inside and across epochs.
        it = _iterator('fashion_sneaker2boot', tiny['data_dir'], **kwargs)
        _take(it, stop)
        state = it.get_state()
        resumed = _iterator('fashion_sneaker2boot', tiny['data_dir'], **kwargs)
        resumed.set_state(state)
        _assert_same_batches(_take(resumed, 25 - stop), reference[stop:])
        _assert_same_batches(_take(it, 25 - stop), reference[stop:])


def test_unpaired_process_slices_partition_each_domain(tiny):
    data_dir = tiny['data_dir']
    all_a, all_b = (_domain_images('fashion_sneaker2boot', data_dir, s) for s in ('trainA', 'trainB'))
    # Global batch 10 over 2 processes: A has 15 per process (3 batches of 5), B 10 (2 batches).
    slices = [_take(_iterator('fashion_sneaker2boot', data_dir, global_batch_size=10, seed=6,
                              process_index=p, process_count=2), 6) for p in range(2)]
    for key, reference, per_epoch in (('a', all_a, 3), ('b', all_b, 2)):
        for epoch in range(2):
            seen = [np.concatenate([_indices(b[key], reference)
                                    for b in s[per_epoch * epoch:per_epoch * (epoch + 1)]])
                    for s in slices]
            np.testing.assert_array_equal(np.sort(seen[0]), np.arange(0, len(reference), 2))
            np.testing.assert_array_equal(np.sort(seen[1]), np.arange(1, len(reference), 2))


def test_epoch_orders_of_two_domains_differ():
    a = pipeline._EpochOrder(100, 0, 1, 10, seed=0, shuffle=True, domain=0)
    b = pipeline._EpochOrder(100, 0, 1, 10, seed=0, shuffle=True, domain=1)
    assert not np.array_equal(a._epoch_order(0), b._epoch_order(0))
    np.testing.assert_array_equal(np.sort(a._epoch_order(0)), np.arange(100))


# --------------------------------------------------------------------------------------------
# TFDS cycle_gan (mocked): unpaired by its split names.


def test_cycle_gan_horse2zebra_is_unpaired(tmp_path):
    data_dir = str(tmp_path)
    name = 'cycle_gan/horse2zebra'
    _write_tfds_metadata(name, data_dir, {'trainA': 24, 'trainB': 24, 'testA': 24, 'testB': 24})
    with tfds.testing.mock_data(num_examples=24, data_dir=data_dir):
        with pytest.raises(ValueError, match='variable size'):
            data.dataset_spec(name, data_dir=data_dir)
        spec = data.dataset_spec(name, image_size=16, data_dir=data_dir)
        kwargs = dict(global_batch_size=8, image_size=16, seed=0)
        it = _iterator(name, data_dir, **kwargs)
        batches = _take(it, 4)  # 3 batches per epoch in each domain.
        state = it.get_state()
        after = _take(it, 2)
        resumed = _iterator(name, data_dir, **kwargs)
        resumed.set_state(state)
        _assert_same_batches(_take(resumed, 2), after)
        test_batch = next(_iterator(name, data_dir, split='test', **kwargs))
        domain_b = next(_iterator(name, data_dir, split='trainB', **kwargs))
    assert spec == data.DatasetSpec(name, 'unpaired', (16, 16, 3), 2,
                                    {'trainA': 24, 'trainB': 24, 'testA': 24, 'testB': 24},
                                    {'a': (16, 16, 3), 'b': (16, 16, 3)})
    for batch in (*batches, test_batch):
        assert set(batch) == {'a', 'b', 'a_label', 'b_label'}
        for key in ('a', 'b'):
            assert batch[key].shape == (8, 16, 16, 3) and batch[key].dtype == np.float32
            assert batch[key].min() >= -1 and batch[key].max() <= 1 and batch[key].std() > 0.2
            assert batch[f'{key}_label'].shape == (8,) and batch[f'{key}_label'].dtype == np.int32
        # The mock serves the same example i in every split: equal batches would mean that the
        # two domains share one order.
        assert not np.array_equal(batch['a'], batch['b'])
    assert set(domain_b) == {'x', 'label'} and domain_b['x'].shape == (8, 16, 16, 3)


def test_unpaired_spec_needs_equal_domain_shapes():
    with pytest.raises(ValueError, match='pass image_size'):
        data.DatasetSpec('x', 'unpaired', (8, 8, 3), None, {}, {'a': (8, 8, 3), 'b': (9, 9, 3)})
    with pytest.raises(ValueError, match='needs features'):
        data.DatasetSpec('x', 'paired', (8, 8, 3), None, {})
    with pytest.raises(ValueError, match='kind'):
        data.DatasetSpec('x', 'video', (8, 8, 3), None, {})
    with pytest.raises(ValueError, match='shape'):
        data.DatasetSpec('x', 'paired', (8, 8, 3), None, {}, {'source': (8, 8, 1), 'target': (8, 8, 1)})


# --------------------------------------------------------------------------------------------
# The real fashion_edges (Debian's dataset-fashion-mnist): ~40 s to build on a 2-core CPU.


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir(DEBIAN_DIR), reason='apt-get install dataset-fashion-mnist')
def test_real_fashion_edges(monkeypatch, data_dir):
    monkeypatch.delenv(fashion.IDX_DIR_ENV, raising=False)
    spec = data.dataset_spec('fashion_edges', data_dir=data_dir)
    assert spec.num_examples == {'train': 18_000, 'test': 3_000}
    batch = data.split_arrays('fashion_edges', split='test', data_dir=data_dir)
    np.testing.assert_array_equal(np.bincount(batch['label'], minlength=10)[[SANDAL, SNEAKER, BOOT]],
                                  [1000, 1000, 1000])
    assert set(np.unique(batch['source'])) == {-1.0, 1.0}
    target, source = _to_uint8(batch['target'])[..., 0], _to_uint8(batch['source'])[..., 0]
    for i in range(0, 3000, 300):
        np.testing.assert_array_equal(source[i], _canny(target[i]))
