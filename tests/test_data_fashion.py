"""Tests of Fashion-MNIST in gans.data: the IDX reader, the local builder (from small IDX files
written here, and from Debian's package when installed), the TFDS path (mocked) and the errors."""

import gzip
import os
import struct

import numpy as np
import pytest
import tensorflow_datasets as tfds

from gans import data
from gans.data import fashion
from gans.data import idx
from gans.data import sources
from data_checks import write_tfds_metadata

TFDS_CLASS_NAMES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt',
                    'Sneaker', 'Bag', 'Ankle boot']
DEBIAN_DIR = '/usr/share/datasets/fashion-mnist'


def _idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of uint8 `array`, written from the format's definition (not with gans code)."""
    header = struct.pack('>BBBB', 0, 0, 0x08, array.ndim) + struct.pack(f'>{array.ndim}I', *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_fashion_idx(directory, images: dict, labels: dict) -> str:
    """Writes the four gzipped IDX files of Fashion-MNIST's layout into `directory`."""
    os.makedirs(directory, exist_ok=True)
    for split, (image_name, label_name) in {
            'train': ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'),
            'test': ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz')}.items():
        with gzip.open(os.path.join(directory, image_name), 'wb') as f:
            f.write(_idx_bytes(images[split]))
        with gzip.open(os.path.join(directory, label_name), 'wb') as f:
            f.write(_idx_bytes(labels[split]))
    return str(directory)


def _tiny_arrays(num_train=40, num_test=20, seed=0):
    rng = np.random.default_rng(seed)
    images = {s: rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
              for s, n in (('train', num_train), ('test', num_test))}
    labels = {s: rng.integers(0, 10, n).astype(np.uint8) for s, n in (('train', num_train), ('test', num_test))}
    return images, labels


@pytest.fixture(scope='session')
def tiny_files(tmp_path_factory):
    """40 train / 20 test random images with random labels, and a data dir to build them in."""
    images, labels = _tiny_arrays()
    idx_dir = write_fashion_idx(tmp_path_factory.mktemp('tiny_idx'), images, labels)
    return idx_dir, str(tmp_path_factory.mktemp('tiny_tfds')), images, labels


@pytest.fixture
def tiny(monkeypatch, tiny_files):
    idx_dir, data_dir, images, labels = tiny_files
    monkeypatch.setenv(fashion.IDX_DIR_ENV, idx_dir)
    return data_dir, images, labels


def _whole(name, data_dir, split, **kwargs):
    n = data.dataset_spec(name, data_dir=data_dir, **kwargs).num_examples[split]
    (batch,) = list(data.make_iterator(name, split=split, global_batch_size=n, seed=0, shuffle=False,
                                       num_epochs=1, data_dir=data_dir, process_index=0,
                                       process_count=1, **kwargs))
    return batch


def _to_uint8(x):
    return np.rint((x + 1) * 127.5).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# The local builder, from IDX files written here.


def test_tiny_fashion_mnist_holds_exactly_what_was_written_in_order(tiny):
    data_dir, images, labels = tiny
    spec = data.dataset_spec('fashion_mnist', data_dir=data_dir)
    assert spec == data.DatasetSpec('fashion_mnist', 'image', (28, 28, 1), 10,
                                    {'train': 40, 'test': 20}, {'x': (28, 28, 1)})
    builder = data.prepare_local('fashion_mnist', data_dir)
    assert builder.name == 'gans_fashion_mnist'  # Never TFDS's own `fashion_mnist` directory.
    assert builder.info.file_format == tfds.core.FileFormat.ARRAY_RECORD
    assert builder.info.features['label'].names == TFDS_CLASS_NAMES
    assert builder.info.features['image'].shape == (28, 28, 1)
    for split in ('train', 'test'):
        batch = _whole('fashion_mnist', data_dir, split)
        assert batch['x'].dtype == np.float32 and batch['label'].dtype == np.int32
        np.testing.assert_array_equal(_to_uint8(batch['x'])[..., 0], images[split])
        np.testing.assert_array_equal(batch['label'], labels[split])
        # 0 -> -1 and 255 -> 1 exactly.
        np.testing.assert_array_equal(batch['x'][..., 0], images[split] * np.float32(2 / 255) - 1)
    arrays = data.split_arrays('fashion_mnist', split='test', data_dir=data_dir, image_size=32)
    assert arrays['x'].shape == (20, 32, 32, 1)
    np.testing.assert_array_equal(arrays['label'], labels['test'])


def test_tiny_fashion_mnist_resumes_and_shards(tiny):
    data_dir, _, labels = tiny
    kwargs = dict(data_dir=data_dir, global_batch_size=8, seed=5, process_index=0, process_count=1)
    reference = [next(it) for it in [data.make_iterator('fashion_mnist', **kwargs)] for _ in range(12)]
    it = data.make_iterator('fashion_mnist', **kwargs)
    for _ in range(7):
        next(it)
    resumed = data.make_iterator('fashion_mnist', **kwargs)
    resumed.set_state(it.get_state())
    for want in reference[7:]:
        got = next(resumed)
        np.testing.assert_array_equal(got['x'], want['x'])
        np.testing.assert_array_equal(got['label'], want['label'])
    # Unshuffled, process p of 2 reads examples p, p + 2, ...: 20 each, 2 batches of 10.
    for p in range(2):
        batches = list(data.make_iterator('fashion_mnist', data_dir=data_dir, global_batch_size=20,
                                          seed=0, shuffle=False, num_epochs=1, process_index=p,
                                          process_count=2))
        np.testing.assert_array_equal(np.concatenate([b['label'] for b in batches]),
                                      labels['train'][p::2])


def test_a_build_from_other_idx_files_is_noticed(tiny, monkeypatch, tmp_path):
    data_dir, _, _ = tiny
    data.prepare_local('fashion_mnist', data_dir)
    images, labels = _tiny_arrays(num_train=30, num_test=10, seed=1)
    monkeypatch.setenv(fashion.IDX_DIR_ENV, write_fashion_idx(tmp_path / 'other', images, labels))
    with pytest.raises(RuntimeError, match='was built from data with') as info:
        data.prepare_local('fashion_mnist', data_dir)
    assert "'train': 40" in str(info.value) and "'train': 30" in str(info.value)


# --------------------------------------------------------------------------------------------
# The IDX reader.


def test_idx_reader_reads_what_the_format_defines(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / 'a.idx').write_bytes(_idx_bytes(array))
    with gzip.open(tmp_path / 'a.idx.gz', 'wb') as f:
        f.write(_idx_bytes(array))
    for name in ('a.idx', 'a.idx.gz'):
        got = idx.read_idx(tmp_path / name, dtype=np.uint8, ndim=3)
        np.testing.assert_array_equal(got, array)
        assert got.dtype == np.uint8
    assert idx.read_header(str(tmp_path / 'a.idx.gz')) == (np.dtype('>u1'), (2, 3, 4))
    # A big-endian int32 file.
    ints = np.array([1, -2, 70000], '>i4')
    (tmp_path / 'i.idx').write_bytes(struct.pack('>BBBBI', 0, 0, 0x0C, 1, 3) + ints.tobytes())
    np.testing.assert_array_equal(idx.read_idx(tmp_path / 'i.idx'), [1, -2, 70000])


def test_idx_reader_rejects_broken_files(tmp_path):
    good = _idx_bytes(np.zeros((3, 28, 28), np.uint8))
    cases = {
        'truncated': (good[:-5], 'truncated'),
        'padded': (good + b'\0', 'padded'),
        'magic': (b'\x08\x03' + good[2:], 'bad magic number'),
        'type': (good[:2] + b'\x07' + good[3:], 'bad magic number'),
        'header': (good[:10], 'truncated header'),
        'empty': (b'', 'too short'),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(idx.IdxFormatError, match=message) as info:
            idx.read_idx(tmp_path / name)
        assert name in str(info.value)  # The message names the file.
    (tmp_path / 'good').write_bytes(good)
    with pytest.raises(idx.IdxFormatError, match='expected 1'):
        idx.read_idx(tmp_path / 'good', ndim=1)
    with pytest.raises(idx.IdxFormatError, match='expected int32'):
        idx.read_idx(tmp_path / 'good', dtype=np.int32)
    with gzip.open(tmp_path / 'cut.gz', 'wb') as f:
        f.write(good)
    compressed = (tmp_path / 'cut.gz').read_bytes()
    (tmp_path / 'cut.gz').write_bytes(compressed[:len(compressed) // 2])
    with pytest.raises(idx.IdxFormatError, match='truncated gzip'):
        idx.read_idx(tmp_path / 'cut.gz')


def test_building_from_a_broken_idx_file_fails_clearly(monkeypatch, tmp_path):
    images, labels = _tiny_arrays(num_train=12, num_test=6)
    labels['test'] = labels['test'][:5]  # One label short.
    monkeypatch.setenv(fashion.IDX_DIR_ENV, write_fashion_idx(tmp_path / 'idx', images, labels))
    with pytest.raises(data.IdxFormatError, match='has 5 labels but .* has 6 images'):
        data.dataset_spec('fashion_mnist', data_dir=str(tmp_path / 'tfds'))
    labels['test'] = np.full(6, 10, np.uint8)  # Not a class.
    write_fashion_idx(tmp_path / 'idx', images, labels)
    with pytest.raises(data.IdxFormatError, match='label 10 is not a class'):
        data.dataset_spec('fashion_mnist', data_dir=str(tmp_path / 'tfds2'))


# --------------------------------------------------------------------------------------------
# Neither source.


def test_without_either_source_the_error_names_both_ways(monkeypatch, tmp_path):
    monkeypatch.setenv(fashion.IDX_DIR_ENV, str(tmp_path / 'no_idx_here'))
    empty = str(tmp_path / 'empty')
    calls = [lambda: data.dataset_spec('fashion_mnist', data_dir=empty),
             lambda: data.make_iterator('fashion_mnist', data_dir=empty, global_batch_size=8, seed=0,
                                        process_index=0, process_count=1),
             lambda: data.dataset_spec('fashion_edges', data_dir=empty),
             lambda: data.split_arrays('fashion_sneaker2boot', data_dir=empty)]
    for call in calls:
        with pytest.raises(data.DatasetNotPreparedError) as info:
            call()
        message = str(info.value)
        assert 'apt-get install dataset-fashion-mnist' in message
        assert fashion.IDX_DIR_ENV in message and 'train-images-idx3-ubyte.gz' in message
        assert f'tfds build fashion_mnist --file_format=array_record --data_dir {empty}' in message
    assert not os.path.exists(os.path.join(empty, 'gans_fashion_mnist'))


def test_unknown_names_list_the_fashion_datasets():
    with pytest.raises(ValueError, match='no_such_dataset') as info:
        data.dataset_spec('no_such_dataset')
    for name in ('digits', 'fashion_mnist', 'fashion_edges', 'fashion_sneaker2boot'):
        assert name in str(info.value)


# --------------------------------------------------------------------------------------------
# TFDS's own fashion_mnist, when prepared (mocked).


def test_prepared_tfds_fashion_mnist_is_read_through_tfds(monkeypatch, tmp_path, tiny_files):
    # No IDX files: only TFDS's copy can serve the name.
    monkeypatch.setenv(fashion.IDX_DIR_ENV, str(tmp_path / 'no_idx_here'))
    data_dir = str(tmp_path / 'tfds')
    assert not sources.reads_tfds('fashion_mnist', data_dir)
    write_tfds_metadata('fashion_mnist', data_dir, {'train': 30, 'test': 30})
    with tfds.testing.mock_data(num_examples=30, data_dir=data_dir):
        assert sources.reads_tfds('fashion_mnist', data_dir)
        spec = data.dataset_spec('fashion_mnist', data_dir=data_dir)
        assert tfds.builder('fashion_mnist', data_dir=data_dir).info.features['label'].names == \
            TFDS_CLASS_NAMES
        it = data.make_iterator('fashion_mnist', data_dir=data_dir, global_batch_size=10, seed=0,
                                process_index=0, process_count=1)
        batches = [next(it) for _ in range(4)]
        state = it.get_state()
        after = next(it)
        resumed = data.make_iterator('fashion_mnist', data_dir=data_dir, global_batch_size=10,
                                     seed=0, process_index=0, process_count=1)
        resumed.set_state(state)
        np.testing.assert_array_equal(next(resumed)['x'], after['x'])
    assert spec == data.DatasetSpec('fashion_mnist', 'image', (28, 28, 1), 10,
                                    {'train': 30, 'test': 30}, {'x': (28, 28, 1)})
    for batch in batches:
        assert set(batch) == {'x', 'label'}
        assert batch['x'].shape == (10, 28, 28, 1) and batch['x'].dtype == np.float32
        assert batch['x'].std() > 0.3  # Mock images: uniform noise, so ~0.58.
        assert batch['label'].dtype == np.int32 and batch['label'].max() < 10
    assert not os.path.exists(os.path.join(data_dir, 'gans_fashion_mnist'))  # No local build.
    # The local builder's features describe the same batches.
    idx_dir, tiny_dir, _, _ = tiny_files
    monkeypatch.setenv(fashion.IDX_DIR_ENV, idx_dir)
    local = data.dataset_spec('fashion_mnist', data_dir=tiny_dir)
    assert (local.kind, local.shape, local.num_classes, local.features) == \
        (spec.kind, spec.shape, spec.num_classes, spec.features)


# --------------------------------------------------------------------------------------------
# The real dataset (Debian's dataset-fashion-mnist), when installed.


@pytest.mark.skipif(not os.path.isdir(DEBIAN_DIR), reason='apt-get install dataset-fashion-mnist')
def test_real_fashion_mnist_from_the_debian_package(monkeypatch, data_dir):
    monkeypatch.delenv(fashion.IDX_DIR_ENV, raising=False)
    spec = data.dataset_spec('fashion_mnist', data_dir=data_dir)
    assert spec == data.DatasetSpec('fashion_mnist', 'image', (28, 28, 1), 10,
                                    {'train': 60_000, 'test': 10_000}, {'x': (28, 28, 1)})
    with gzip.open(os.path.join(DEBIAN_DIR, 't10k-images-idx3-ubyte.gz')) as f:
        first_test_images = np.frombuffer(f.read(16 + 100 * 784), np.uint8, offset=16)
    for split, n in (('train', 6000), ('test', 1000)):
        arrays = sources.local_arrays('fashion_mnist', data_dir, split)
        np.testing.assert_array_equal(np.bincount(arrays['label'], minlength=10), np.full(10, n))
    test = sources.local_arrays('fashion_mnist', data_dir, 'test')
    np.testing.assert_array_equal(test['image'][:100].reshape(-1), first_test_images)
    assert test['label'][:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]  # The published first ten.
