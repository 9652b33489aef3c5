"""The input pipeline: dataset names -> deterministic, resumable grain iterators of host batches.

Names: the local datasets (`digits`, `ring8`, `grid25`, `fashion_mnist`, and the datasets
derived from it) are TFDS builders of this package, built on first use into the data dir; any
other name (and `fashion_mnist` when TFDS's copy is prepared) is a TFDS dataset the user has
prepared with `file_format=array_record`, read with `tfds` data sources (no TensorFlow).

Kinds (`DatasetSpec.kind`) and their batches (NHWC images float32 in [-1, 1], labels int32):
- image:    {'x', 'label'}
- points:   {'x', 'label'} (unscaled float32 points)
- paired:   {'source', 'target', 'label'}: examples stored with both images (fashion_edges).
- unpaired: {'a', 'b', 'a_label', 'b_label'}: domains A and B are two splits (TFDS cycle_gan
  layout: split 'train' means trainA and trainB, 'test' testA and testB). A domain split
  itself ('trainB') reads as an image dataset: {'x', 'label'}.
'label' entries only when the dataset has labels.

The grain pipeline runs over *batch numbers*: batch k of a process is mapped to the example
indices it holds (numpy, per batch), then those examples are gathered. The local datasets are
read once into memory and gathered with one numpy fancy-index per batch (tens of thousands of
batches per second); TFDS datasets are read record by record (decoded, resized) in grain's
prefetch threads. Either way the iterator is a grain `DatasetIterator` whose state is just the
next batch number, so `set_state(get_state())` on a fresh iterator resumes exactly.

Order of one process's examples, per domain (one for all kinds but unpaired, two for it): the
split's first `N // process_count * process_count` examples are dealt round-robin to the
processes (`[p::count]`), so every process has the same number of examples and batches; each
epoch, a process permutes its shard with numpy's PCG64 seeded by (seed, process, epoch) --
(seed, process, epoch, domain) for the domains of an unpaired dataset -- keeps the first
`len(shard) // batch * batch` of it (drop_remainder per epoch, so no batch straddles two
epochs) and cuts that into batches. Unpaired domains have their own sizes and so their own
epoch lengths; batch k pairs batch k of each domain's order.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from typing import Callable

import grain
import numpy as np

from gans.data import sources
from gans.data.images import resize_all
from gans.data.images import resize_image
from gans.data.images import to_float_images
from gans.data.sources import DatasetSpec
from gans.data.sources import resolve_data_dir

Batch = dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class _Domain:
    """One split as read by the pipeline: its size and a gather of example indices -> batch."""
    split: str
    num_examples: int
    gather: Callable[[np.ndarray], Batch]
    in_memory: bool


def _check_image_size(image_size: int | None) -> None:
    if image_size is not None and image_size <= 0:
        raise ValueError(f'image_size must be positive, got {image_size}.')


# ---------------------------------------------------------------------------------------------
# Public API.


def dataset_spec(name: str, *, image_size: int | None = None,
                 data_dir: str | None = None) -> DatasetSpec:
    """What `make_iterator(name, image_size=...)` yields, and how many examples each split has.

    digits and the mixtures are described without being built; Fashion-MNIST and its derived
    datasets are built on first use; a TFDS dataset must be prepared.
    """
    _check_image_size(image_size)
    data_dir = resolve_data_dir(data_dir)
    if not sources.reads_tfds(name, data_dir):
        return sources.local_spec(name, image_size, data_dir)
    return sources.tfds_spec(sources.tfds_builder(name, data_dir), name, image_size, data_dir)


def config_spec(config) -> DatasetSpec:
    """`dataset_spec` of a run config's `dataset`, `image_size` and `data_dir` fields."""
    return dataset_spec(config.dataset, image_size=config.image_size, data_dir=config.data_dir)


# ---------------------------------------------------------------------------------------------
# Splits -> (size, gather: example indices -> batch).


def _batch_keys(spec: DatasetSpec, prefix: str | None) -> dict[str, str]:
    """Stored feature -> batch key. `prefix` 'a'/'b': a domain of an unpaired batch."""
    if spec.kind == 'paired':
        return {'source': 'source', 'target': 'target', 'label': 'label'}
    if prefix is not None:
        return {'image': prefix, 'label': f'{prefix}_label'}
    return {'image': 'x', 'point': 'x', 'label': 'label'}


def _local_domain(name: str, split: str, keys: dict[str, str], image_size: int | None,
                  data_dir: str | None) -> _Domain:
    arrays = sources.local_arrays(name, data_dir, split)
    columns, images = {}, set()
    for stored, key in keys.items():
        if stored in arrays:
            column = arrays[stored]
            if stored in sources.IMAGE_FEATURES:
                images.add(key)
                column = resize_all(column, image_size) if image_size else column
            columns[key] = column

    def gather(idx):
        return {k: to_float_images(c[idx]) if k in images else c[idx] for k, c in columns.items()}
    return _Domain(split, len(arrays['label']), gather, in_memory=True)


def _tfds_domain(builder, name: str, split: str, keys: dict[str, str], spec: DatasetSpec,
                 image_size: int | None, data_dir: str | None) -> _Domain:
    source = sources.tfds_source(builder, name, split, data_dir)
    labeled = spec.num_classes is not None  # Only ClassLabel labels are read.
    keys = {s: k for s, k in keys.items()
            if s in builder.info.features and (s != 'label' or labeled)}

    def gather(idx):
        records = [source[int(i)] for i in idx]
        batch = {}
        for stored, key in keys.items():
            values = [r[stored] for r in records]
            if stored in sources.IMAGE_FEATURES:
                if image_size is not None:
                    values = [resize_image(v, image_size) for v in values]
                batch[key] = to_float_images(np.stack(values))
            else:
                batch[key] = np.asarray(values, np.int32)
        return batch
    return _Domain(split, len(source), gather, in_memory=False)


def _domains(name: str, split: str, image_size: int | None,
             data_dir: str | None) -> tuple[DatasetSpec, list[_Domain]]:
    """(spec, the domains that `split` reads: two for an unpaired split, else one)."""
    _check_image_size(image_size)
    tfds = sources.reads_tfds(name, data_dir)
    builder = sources.tfds_builder(name, data_dir) if tfds else None
    if tfds:
        spec = sources.tfds_spec(builder, name, image_size, data_dir)
    else:
        spec = sources.local_spec(name, image_size, data_dir)

    def domain(split, prefix=None):
        keys = _batch_keys(spec, prefix)
        if tfds:
            return _tfds_domain(builder, name, split, keys, spec, image_size, data_dir)
        return _local_domain(name, split, keys, image_size, data_dir)

    pair = sources.domain_splits(split, spec.num_examples) if spec.kind == 'unpaired' else None
    if pair is None:
        return spec, [domain(split)]
    return spec, [domain(pair[0], 'a'), domain(pair[1], 'b')]


def _merge(domains: list[_Domain]) -> Callable[[tuple[np.ndarray, ...]], Batch]:
    def gather(indices):
        batch = {}
        for d, idx in zip(domains, indices):
            batch.update(d.gather(idx))
        return batch
    return gather


# ---------------------------------------------------------------------------------------------
# Batches.


def split_arrays(name: str, *, split: str = 'train', image_size: int | None = None,
                 data_dir: str | None = None) -> dict[str, np.ndarray]:
    """Every example of `split` at once, preprocessed as `make_iterator` yields them: for
    in-memory use such as in-program sampling. Unpaired: {'a', 'b', ...} of the two domains'
    whole splits (of different lengths)."""
    _, domains = _domains(name, split, image_size, resolve_data_dir(data_dir))
    return _merge(domains)(tuple(np.arange(d.num_examples) for d in domains))


class _EpochOrder:
    """Batch number -> example indices of one process: batch k is slice j of epoch e's order.

    The shard of process p is examples p, p + count, ... of the split's first
    N // count * count; epoch e's order is a permutation of the shard drawn from numpy's PCG64
    seeded by (seed, p, e), or (seed, p, e, domain) for a domain of an unpaired dataset (or the
    shard in order when not shuffling), of which the first batches_per_epoch * batch_size are
    used. Computed per batch with numpy (a few microseconds) rather than per example, which
    keeps large batches of tiny examples fast.
    """

    def __init__(self, num_examples: int, process_index: int, process_count: int,
                 batch_size: int, seed: int, shuffle: bool, domain: int | None = None):
        shard_size = num_examples // process_count
        self.shard = np.arange(process_index, shard_size * process_count, process_count)
        self.batch_size = batch_size
        self.batches_per_epoch = shard_size // batch_size
        self.seed = int(seed)
        self.process_index = process_index
        self.shuffle = shuffle
        self.domain = domain
        self._order = functools.lru_cache(maxsize=2)(self._epoch_order)

    def _epoch_order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return self.shard
        # SeedSequence mixes its entropy: seeds s and s + 1 share no epoch orders, and processes
        # (and domains) permute their shards independently.
        entropy = [abs(self.seed), int(self.seed < 0), self.process_index, epoch]
        if self.domain is not None:
            entropy.append(self.domain)
        return self.shard[np.random.default_rng(entropy).permutation(len(self.shard))]

    def __call__(self, k: int) -> np.ndarray:
        epoch, j = divmod(int(k), self.batches_per_epoch)
        return self._order(epoch)[j * self.batch_size:(j + 1) * self.batch_size]


def make_iterator(name: str, *, split: str = 'train', global_batch_size: int, seed: int,
                  image_size: int | None = None, data_dir: str | None = None,
                  process_index: int | None = None, process_count: int | None = None,
                  shuffle: bool = True, num_epochs: int | None = None,
                  num_threads: int | None = None) -> grain.DatasetIterator:
    """A grain iterator over this process's slice of each global batch.

    Yields dicts of [global_batch_size // process_count, ...] arrays with the keys of the
    dataset's kind (module docstring): e.g. {'x': float32 [B, *spec.shape], 'label': int32 [B]}.
    Images are NHWC in [-1, 1]; points are unscaled.
    `num_epochs=None` repeats forever; for unpaired datasets an epoch is one of the larger
    domain (the smaller one wraps into its next epoch). Same arguments => same batches;
    `it.set_state(state)` on a fresh iterator continues exactly where the iterator that
    produced `state` was.
    `num_threads`: grain prefetch threads (default: 0 for in-memory local datasets, where
    gathering is a numpy index; 8 for TFDS datasets, which decode images).
    """
    if process_index is None or process_count is None:
        import jax  # pylint: disable=g-import-not-at-top
        process_index = jax.process_index() if process_index is None else process_index
        process_count = jax.process_count() if process_count is None else process_count
    if not 0 <= process_index < process_count:
        raise ValueError(f'process_index {process_index} not in [0, {process_count}).')
    if global_batch_size <= 0 or global_batch_size % process_count:
        raise ValueError(f'global_batch_size ({global_batch_size}) must be a positive multiple of '
                         f'process_count ({process_count}).')
    if num_epochs is not None and num_epochs <= 0:
        raise ValueError(f'num_epochs must be positive or None (forever), got {num_epochs}.')
    batch_size = global_batch_size // process_count
    data_dir = resolve_data_dir(data_dir)

    _, domains = _domains(name, split, image_size, data_dir)
    orders = []
    for i, d in enumerate(domains):
        order = _EpochOrder(d.num_examples, process_index, process_count, batch_size, seed,
                            shuffle, domain=i if len(domains) > 1 else None)
        if order.batches_per_epoch == 0:
            shard_size = d.num_examples // process_count
            raise ValueError(
                f'{name}[{d.split}] has {d.num_examples} examples, {shard_size} per process for '
                f'{process_count} processes: fewer than one batch of {batch_size} per process.')
        orders.append(order)

    batches_per_epoch = max(o.batches_per_epoch for o in orders)
    num_batches = sys.maxsize if num_epochs is None else num_epochs * batches_per_epoch
    ds = grain.MapDataset.range(num_batches)
    if len(domains) == 1:
        ds = ds.map(orders[0]).map(domains[0].gather)
    else:
        ds = ds.map(lambda k: tuple(o(k) for o in orders)).map(_merge(domains))
    if num_threads is None:
        num_threads = 0 if all(d.in_memory for d in domains) else 8
    read_options = grain.ReadOptions(num_threads=num_threads,
                                     prefetch_buffer_size=max(2 * num_threads, 1))
    return iter(ds.to_iter_dataset(read_options))
