"""Where examples come from: the local TFDS builders (built on first use, read into memory) and
TFDS image datasets the user has prepared, with errors that say what to do."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from gans.data import digits as digits_lib
from gans.data import mixtures as mixtures_lib

LOCAL_DATASETS = ('digits', *mixtures_lib.MIXTURES)
DATA_DIR_ENV = 'GANS_DATA_DIR'


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    name: str
    kind: str                 # 'image' or 'points'
    shape: tuple[int, ...]    # per-example shape after preprocessing: (H, W, C) or (2,)
    num_classes: int | None   # None when unlabeled
    num_examples: dict[str, int]   # per split


class DatasetNotPreparedError(FileNotFoundError):
    """A TFDS dataset that has not been prepared (as array_record) in the data dir."""


def resolve_data_dir(data_dir: str | None = None) -> str | None:
    """`data_dir`, else $GANS_DATA_DIR, else None (TFDS's default, ~/tensorflow_datasets)."""
    data_dir = data_dir or os.environ.get(DATA_DIR_ENV) or None
    return os.path.expanduser(data_dir) if data_dir else None


def _how_to_prepare(name: str, data_dir: str | None) -> str:
    where = data_dir or f'{tfds.core.constants.DATA_DIR} (TFDS default)'
    dir_flag = f' --data_dir {data_dir}' if data_dir else ''
    return (f'Prepare it once with\n  tfds build {name} --file_format=array_record{dir_flag}\n'
            f'(or tfds.builder({name!r}, data_dir=...).download_and_prepare('
            f"file_format='array_record')); data dir: {where}. Set ${DATA_DIR_ENV} or pass "
            'data_dir to read another directory.')


def _unknown_name_error(name: str) -> ValueError:
    return ValueError(
        f'Unknown dataset {name!r}. Local datasets (built on first use): '
        f'{", ".join(LOCAL_DATASETS)}. Any TFDS image dataset prepared with '
        '--file_format=array_record also works by its TFDS name (e.g. mnist, fashion_mnist, '
        'cifar10, celeb_a).')


# ---------------------------------------------------------------------------------------------
# Local datasets: build on first use, read into memory once.


def _local_builder(name: str, data_dir: str | None) -> tfds.core.DatasetBuilder:
    if name == 'digits':
        return digits_lib.Digits(data_dir=data_dir)
    return mixtures_lib.Mixtures(config=name, data_dir=data_dir)


@contextlib.contextmanager
def _file_lock(path: str):
    """An exclusive advisory lock (fcntl) so that processes sharing a data dir build once."""
    try:
        import fcntl  # pylint: disable=g-import-not-at-top
        os.makedirs(os.path.dirname(path), exist_ok=True)
        f = open(path, 'a')  # pylint: disable=consider-using-with
    except (ImportError, OSError):  # No fcntl, or not a local path (gs://...): no lock.
        yield
        return
    try:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(f, fcntl.LOCK_UN)
        f.close()


def prepare_local(name: str, data_dir: str | None = None) -> tfds.core.DatasetBuilder:
    """Builds a local dataset (array_record) if it is not built yet; returns its builder.

    Safe to call repeatedly and from several processes at once.
    """
    data_dir = resolve_data_dir(data_dir)
    builder = _local_builder(name, data_dir)
    if not builder.is_prepared():
        lock = os.path.join(os.path.dirname(os.fspath(builder.data_dir)), '.gans_build.lock')
        with _file_lock(lock):
            builder = _local_builder(name, data_dir)  # Another process may have built it meanwhile.
            if not builder.is_prepared():
                builder.download_and_prepare(file_format='array_record')
            builder = _local_builder(name, data_dir)
    if builder.info.file_format != tfds.core.FileFormat.ARRAY_RECORD:
        raise RuntimeError(f'{name} at {builder.data_dir} is stored as {builder.info.file_format}, '
                           'not array_record; delete that directory to rebuild it.')
    return builder


@functools.lru_cache(maxsize=32)
def local_arrays(name: str, data_dir: str | None, split: str) -> dict[str, np.ndarray]:
    """All examples of a local split, in stored order: {'x': uint8 images | float32 points, 'label'}."""
    builder = prepare_local(name, data_dir)
    try:
        source = builder.as_data_source(split)
    except Exception as e:  # pylint: disable=broad-except
        raise ValueError(f'{name} has no split {split!r}; splits: {sorted(builder.info.splits)} '
                         "(TFDS slicing like 'train[:90%]' works too).") from e
    records = source.__getitems__(list(range(len(source))))
    key = 'image' if name == 'digits' else 'point'
    x = np.stack([r[key] for r in records])
    label = np.asarray([r['label'] for r in records], np.int32)
    for a in (x, label):
        a.setflags(write=False)
    return {'x': x, 'label': label}


def local_spec(name: str, image_size: int | None) -> DatasetSpec:
    if name == 'digits':
        size = image_size or digits_lib.IMAGE_SIZE
        return DatasetSpec('digits', 'image', (size, size, 1), digits_lib.NUM_CLASSES,
                           dict(digits_lib.NUM_EXAMPLES_PER_SPLIT))
    if image_size is not None:
        raise ValueError(f'{name} is a 2-D point dataset; image_size must be None, got {image_size}.')
    return DatasetSpec(name, 'points', (2,), mixtures_lib.MIXTURES[name].num_modes,
                       dict(mixtures_lib.NUM_EXAMPLES_PER_SPLIT))


# ---------------------------------------------------------------------------------------------
# TFDS image datasets prepared by the user.


def tfds_builder(name: str, data_dir: str | None) -> tfds.core.DatasetBuilder:
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise _unknown_name_error(name) from None
    features = builder.info.features
    if 'image' not in features or not isinstance(features['image'], tfds.features.Image):
        raise ValueError(f'TFDS dataset {name!r} has no `image` feature of type Image '
                         f'(features: {sorted(features)}); only image datasets are supported.')
    return builder


def tfds_source(builder, name: str, split: str, data_dir: str | None):
    """`builder.as_data_source(split)` with errors that say how to fix them."""
    try:
        return builder.as_data_source(split)
    except Exception as e:  # pylint: disable=broad-except
        if not builder.info.splits:  # No metadata in the data dir: never prepared there.
            raise DatasetNotPreparedError(
                f'TFDS dataset {name!r} is not prepared in the data dir. '
                + _how_to_prepare(name, data_dir)) from e
        if builder.info.file_format != tfds.core.FileFormat.ARRAY_RECORD:
            raise DatasetNotPreparedError(
                f'TFDS dataset {name!r} is prepared at {builder.data_dir} as '
                f'{builder.info.file_format}, which has no random access. Rebuild it as array_record '
                '(into another data dir, or after deleting that one). '
                + _how_to_prepare(name, data_dir)) from e
        if split not in builder.info.splits:
            raise ValueError(f'{name} has no split {split!r}; splits: '
                             f'{sorted(builder.info.splits)}') from e
        raise


def _tfds_num_examples(builder, name: str, data_dir: str | None) -> dict[str, int]:
    if builder.info.splits:
        return {k: v.num_examples for k, v in builder.info.splits.items()}
    # No split metadata: not prepared (raises below), or mocked (tfds.testing.mock_data).
    counts = {}
    for split in ('train', 'test'):
        with contextlib.suppress(Exception):
            counts[split] = len(builder.as_data_source(split))
    if not counts:
        tfds_source(builder, name, 'train', data_dir)  # Raises the explanatory error.
    return counts


def tfds_spec(builder, name: str, image_size: int | None, data_dir: str | None) -> DatasetSpec:
    features = builder.info.features
    h, w, c = features['image'].shape
    if c is None:
        raise ValueError(f'{name}: images have an unknown number of channels.')
    if image_size is None:
        if h is None or w is None:
            raise ValueError(f'{name}: images have variable size {(h, w)}; pass image_size.')
        shape = (h, w, c)
    else:
        shape = (image_size, image_size, c)
    label = features['label'] if 'label' in features else None
    num_classes = label.num_classes if isinstance(label, tfds.features.ClassLabel) else None
    return DatasetSpec(name, 'image', shape, num_classes,
                       _tfds_num_examples(builder, name, data_dir))


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """[H, W, C] uint8 -> [size, size, C] uint8: center-crop to a square, then PIL bicubic.

    (PIL widens the bicubic kernel when shrinking, so downsampling is antialiased.)
    """
    h, w, c = image.shape
    if h != w:
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        image = image[top:top + s, left:left + s]
    if image.shape[0] == size:
        return np.ascontiguousarray(image)
    if c == 3:
        return np.asarray(Image.fromarray(image).resize((size, size), Image.BICUBIC))
    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(image[:, :, k]))
                                .resize((size, size), Image.BICUBIC)) for k in range(c)], -1)
