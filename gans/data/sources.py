"""Where examples come from: the local TFDS builders (built on first use, read into memory) and
TFDS image datasets the user has prepared, with errors that say what to do; and the
DatasetSpec that describes a dataset's batches."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os

import numpy as np
import tensorflow_datasets as tfds

from gans.data import derived as derived_lib
from gans.data import digits as digits_lib
from gans.data import fashion as fashion_lib
from gans.data import mixtures as mixtures_lib
from gans.data.images import resize_image  # noqa: F401  (re-exported: sources.resize_image)

LOCAL_DATASETS = ('digits', *mixtures_lib.MIXTURES, fashion_lib.NAME, *derived_lib.REGISTRY)
DATA_DIR_ENV = 'GANS_DATA_DIR'
# The entries of a batch that hold examples (images or points), per kind.
BATCH_KEYS = {'image': ('x',), 'points': ('x',), 'paired': ('source', 'target'),
              'unpaired': ('a', 'b')}
IMAGE_FEATURES = ('image', 'source', 'target')  # Stored features holding uint8 images.


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """What a dataset's batches hold.

    kind: 'image' ({'x'}), 'points' ({'x'}), 'paired' ({'source', 'target'}) or 'unpaired'
      ({'a', 'b'}); each batch may also hold labels (see make_iterator).
    shape: the per-example shape of what a generator makes: x; target for paired; for
      unpaired the shape of a and of b, which must be equal.
    num_classes: classes of `label` (None when unlabeled).
    num_examples: examples per stored split (unpaired: per domain split, e.g. trainA, trainB).
    features: the per-example shape of each batch entry of BATCH_KEYS[kind] after
      preprocessing; defaults to {'x': shape} for image and points datasets.
    """
    name: str
    kind: str
    shape: tuple[int, ...]
    num_classes: int | None
    num_examples: dict[str, int]
    features: dict[str, tuple[int, ...]] | None = None

    def __post_init__(self):
        if self.kind not in BATCH_KEYS:
            raise ValueError(f'DatasetSpec kind {self.kind!r} is not one of {list(BATCH_KEYS)}.')
        keys = BATCH_KEYS[self.kind]
        features = self.features
        if features is None:
            if keys != ('x',):
                raise ValueError(f'A {self.kind} DatasetSpec needs features for {keys}.')
            features = {'x': self.shape}
        features = {k: tuple(v) for k, v in features.items()}
        if set(features) != set(keys):
            raise ValueError(f'A {self.kind} DatasetSpec has features {keys}, '
                             f'got {sorted(features)}.')
        if self.kind == 'unpaired' and features['a'] != features['b']:
            raise ValueError(f'{self.name}: domain a has examples of shape {features["a"]} but b '
                             f'of {features["b"]}; pass image_size to bring both to one size.')
        if tuple(self.shape) != features[keys[-1]]:
            raise ValueError(f'{self.name}: shape {tuple(self.shape)} is not the shape of '
                             f'{keys[-1]!r}, {features[keys[-1]]}.')
        object.__setattr__(self, 'shape', tuple(self.shape))
        object.__setattr__(self, 'features', features)

    def examples_in(self, split: str) -> int:
        """Examples a batch stream of `split` draws from: for an unpaired dataset's 'train' or
        'test', the smaller of its two domain splits; 0 for a split it does not have."""
        pair = domain_splits(split, self.num_examples) if self.kind == 'unpaired' else None
        if pair:
            return min(self.num_examples[pair[0]], self.num_examples[pair[1]])
        return self.num_examples.get(split, 0)


class DatasetNotPreparedError(FileNotFoundError):
    """A dataset whose data is not there: a TFDS dataset not prepared (as array_record) in the
    data dir, or a local dataset whose source files are missing."""


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
        '--file_format=array_record also works by its TFDS name (e.g. mnist, cifar10, celeb_a, '
        'cycle_gan/horse2zebra).')


# ---------------------------------------------------------------------------------------------
# Local datasets: build on first use, read into memory once.


def reads_tfds(name: str, data_dir: str | None) -> bool:
    """Whether `name` is read from a TFDS-prepared dataset (any non-local name; fashion_mnist
    when TFDS's copy is prepared as array_record) rather than from a local builder."""
    if name == fashion_lib.NAME:
        return fashion_lib.tfds_builder_if_prepared(data_dir) is not None
    return name not in LOCAL_DATASETS


def _local_builder(name: str, data_dir: str | None) -> tfds.core.DatasetBuilder:
    if name == 'digits':
        return digits_lib.Digits(data_dir=data_dir)
    if name in mixtures_lib.MIXTURES:
        return mixtures_lib.Mixtures(config=name, data_dir=data_dir)
    if name == fashion_lib.NAME:
        return fashion_lib.FashionMnist(data_dir=data_dir)
    parent = derived_lib.REGISTRY[name].parent
    parent_split = functools.partial(_parent_split, parent, data_dir)
    return derived_lib.DerivedBuilder(config=name, data_dir=data_dir, parent_split=parent_split)


def _parent_split(parent: str, data_dir: str | None, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images, labels) of a whole split of a derived dataset's parent, wherever it is."""
    if reads_tfds(parent, data_dir):
        source = tfds_source(tfds_builder(parent, data_dir), parent, split, data_dir)
        records = source.__getitems__(list(range(len(source))))
        return (np.stack([r['image'] for r in records]),
                np.asarray([r['label'] for r in records], np.int64))
    arrays = local_arrays(parent, data_dir, split)
    return arrays['image'], arrays['label']


def _source_counts(name: str, data_dir: str | None) -> dict[str, int] | None:
    """Examples per split of the data a local dataset is built from now; None if not known."""
    if name == fashion_lib.NAME:
        return fashion_lib.idx_counts()
    if name in derived_lib.REGISTRY:
        parent = derived_lib.REGISTRY[name].parent
        if reads_tfds(parent, data_dir):
            splits = tfds_builder(parent, data_dir).info.splits
            return {k: v.num_examples for k, v in splits.items()}
        built = _local_builder(parent, data_dir)
        if built.is_prepared():
            return {k: v.num_examples for k, v in built.info.splits.items()}
        return _source_counts(parent, data_dir)
    return None  # digits and the mixtures are generated in code.


def _built_from(name: str, builder) -> dict[str, int] | None:
    if name == fashion_lib.NAME:
        return {k: v.num_examples for k, v in builder.info.splits.items()}
    if name in derived_lib.REGISTRY:
        return dict(builder.info.metadata.get('parent_num_examples', {})) or None
    return None


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

    Safe to call repeatedly and from several processes at once. Raises DatasetNotPreparedError
    when the data it is built from is missing (Fashion-MNIST: see gans.data.fashion), and
    RuntimeError when the stored dataset was built from other data than is there now.
    """
    if name not in LOCAL_DATASETS:
        raise _unknown_name_error(name)
    data_dir = resolve_data_dir(data_dir)
    builder = _local_builder(name, data_dir)
    if not builder.is_prepared():
        if name == fashion_lib.NAME or name in derived_lib.REGISTRY:
            if _source_counts(name, data_dir) is None:
                raise DatasetNotPreparedError(fashion_lib.not_available_message(data_dir, name))
        lock = os.path.join(os.path.dirname(os.fspath(builder.data_dir)), '.gans_build.lock')
        with _file_lock(lock):
            builder = _local_builder(name, data_dir)  # Another process may have built it meanwhile.
            if not builder.is_prepared():
                builder.download_and_prepare(file_format='array_record')
            builder = _local_builder(name, data_dir)
    if builder.info.file_format != tfds.core.FileFormat.ARRAY_RECORD:
        raise RuntimeError(f'{name} at {builder.data_dir} is stored as {builder.info.file_format}, '
                           'not array_record; delete that directory to rebuild it.')
    built, now = _built_from(name, builder), _source_counts(name, data_dir)
    if built is not None and now is not None and built != now:
        raise RuntimeError(f'{name} at {builder.data_dir} was built from data with {built} '
                           f'examples per split, but its source now has {now}. Delete that '
                           'directory to rebuild it, or use another data dir.')
    return builder


@functools.lru_cache(maxsize=32)
def local_arrays(name: str, data_dir: str | None, split: str) -> dict[str, np.ndarray]:
    """All examples of a local split, in stored order, as read-only arrays keyed by the stored
    features: uint8 images ('image', or 'source' and 'target'), float32 'point', int32 'label'."""
    builder = prepare_local(name, data_dir)
    try:
        source = builder.as_data_source(split)
    except Exception as e:  # pylint: disable=broad-except
        raise ValueError(f'{name} has no split {split!r}; splits: {sorted(builder.info.splits)} '
                         "(TFDS slicing like 'train[:90%]' works too).") from e
    records = source.__getitems__(list(range(len(source))))
    arrays = {}
    for key, feature in builder.info.features.items():
        if key == 'label':
            arrays[key] = np.asarray([r[key] for r in records], np.int32)
        elif records:
            arrays[key] = np.stack([r[key] for r in records])
        else:
            arrays[key] = np.zeros((0, *feature.shape), feature.np_dtype)
    for a in arrays.values():
        a.setflags(write=False)
    return arrays


def local_spec(name: str, image_size: int | None, data_dir: str | None = None) -> DatasetSpec:
    """The spec of a local dataset: digits and the mixtures are described without being built;
    Fashion-MNIST and the derived datasets are built first (their sizes come from the data)."""
    if name == 'digits':
        size = image_size or digits_lib.IMAGE_SIZE
        return DatasetSpec('digits', 'image', (size, size, 1), digits_lib.NUM_CLASSES,
                           dict(digits_lib.NUM_EXAMPLES_PER_SPLIT), {'x': (size, size, 1)})
    if name in mixtures_lib.MIXTURES:
        if image_size is not None:
            raise ValueError(f'{name} is a 2-D point dataset; image_size must be None, '
                             f'got {image_size}.')
        return DatasetSpec(name, 'points', (2,), mixtures_lib.MIXTURES[name].num_modes,
                           dict(mixtures_lib.NUM_EXAMPLES_PER_SPLIT), {'x': (2,)})
    builder = prepare_local(name, data_dir)
    counts = {k: v.num_examples for k, v in builder.info.splits.items()}
    return spec_from_features(name, builder.info.features, counts, image_size)


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
    return spec_from_features(name, builder.info.features,
                              _tfds_num_examples(builder, name, data_dir), image_size)


# ---------------------------------------------------------------------------------------------
# Kinds, shared by local and TFDS datasets.


def domain_splits(split: str, split_names) -> tuple[str, str] | None:
    """The (domain A, domain B) splits that `split` means for an unpaired dataset, else None.

    'train' -> ('trainA', 'trainB') when both exist (slices carry over: 'train[:10]' ->
    ('trainA[:10]', 'trainB[:10]')); a domain split such as 'trainA' is itself a plain split.
    """
    base, bracket, rest = split.partition('[')
    if f'{base}A' in split_names and f'{base}B' in split_names:
        return f'{base}A{bracket}{rest}', f'{base}B{bracket}{rest}'
    return None


def is_unpaired(split_names) -> bool:
    """Datasets with trainA/trainB (or testA/testB) splits, like TFDS's cycle_gan, are unpaired."""
    return any(domain_splits(s, split_names) for s in ('train', 'test'))


def spec_from_features(name: str, features, num_examples: dict[str, int],
                       image_size: int | None) -> DatasetSpec:
    """The spec of a dataset stored with TFDS `features` ('image', or 'source' and 'target';
    optional ClassLabel 'label') and splits `num_examples`, images resized to `image_size`."""

    def shape(key):
        h, w, c = features[key].shape
        if c is None:
            raise ValueError(f'{name}: {key} images have an unknown number of channels.')
        if image_size is not None:
            return image_size, image_size, c
        if h is None or w is None:
            raise ValueError(f'{name}: images have variable size {(h, w)}; pass image_size.')
        return h, w, c

    label = features['label'] if 'label' in features else None
    num_classes = label.num_classes if isinstance(label, tfds.features.ClassLabel) else None
    if 'source' in features and 'target' in features:
        kind, shapes = 'paired', {'source': shape('source'), 'target': shape('target')}
    elif is_unpaired(num_examples):
        kind, shapes = 'unpaired', {'a': shape('image'), 'b': shape('image')}
    else:
        kind, shapes = 'image', {'x': shape('image')}
    return DatasetSpec(name, kind, shapes[BATCH_KEYS[kind][-1]], num_classes, num_examples, shapes)
