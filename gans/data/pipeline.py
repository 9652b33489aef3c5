"""The input pipeline: dataset names -> deterministic, resumable grain iterators of host batches.

Names: the local datasets (`digits`, `ring8`, `grid25`) are TFDS builders of this package, built
on first use into the data dir; any other name is a TFDS image dataset the user has prepared
with `file_format=array_record`, read with `tfds` data sources (no TensorFlow).

The grain pipeline runs over *batch numbers*: batch k of a process is mapped to the example
indices it holds (numpy, per batch), then those examples are gathered. The local datasets are
tiny, so they are read once into memory and gathered with one numpy fancy-index per batch
(tens of thousands of batches per second); TFDS datasets are read record by record (decoded,
resized) in grain's prefetch threads. Either way the iterator is a grain `DatasetIterator`
whose state is just the next batch number, so `set_state(get_state())` on a fresh iterator
resumes exactly.

Order of one process's examples: the split's first `N // process_count * process_count`
examples are dealt round-robin to the processes (`[p::count]`), so every process has the same
number of examples and batches; each epoch, a process permutes its shard with numpy's PCG64
seeded by (seed, process, epoch), keeps the first `len(shard) // batch * batch` of it
(drop_remainder per epoch, so no batch straddles two epochs) and cuts that into batches.
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable

import grain
import numpy as np

from gans.data import sources
from gans.data.sources import DatasetSpec
from gans.data.sources import LOCAL_DATASETS
from gans.data.sources import resolve_data_dir


def _resize_all(images: np.ndarray, size: int) -> np.ndarray:
    if images.shape[1:3] == (size, size):
        return images
    return np.stack([sources.resize_image(im, size) for im in images])


def _to_float_images(x: np.ndarray) -> np.ndarray:
    """uint8 [..., H, W, C] -> float32 in [-1, 1]."""
    return x.astype(np.float32) * np.float32(2 / 255) - np.float32(1)


# ---------------------------------------------------------------------------------------------
# Public API.


def dataset_spec(name: str, *, image_size: int | None = None,
                 data_dir: str | None = None) -> DatasetSpec:
    """What `make_iterator(name, image_size=...)` yields, and how many examples each split has.

    Local datasets are described without being built; a TFDS dataset must be prepared.
    """
    if image_size is not None and image_size <= 0:
        raise ValueError(f'image_size must be positive, got {image_size}.')
    if name in LOCAL_DATASETS:
        return sources.local_spec(name, image_size)
    data_dir = resolve_data_dir(data_dir)
    return sources.tfds_spec(sources.tfds_builder(name, data_dir), name, image_size, data_dir)


def config_spec(config) -> DatasetSpec:
    """`dataset_spec` of a run config's `dataset`, `image_size` and `data_dir` fields."""
    return dataset_spec(config.dataset, image_size=config.image_size, data_dir=config.data_dir)


def _gather_fn(name: str, split: str, image_size: int | None,
               data_dir: str | None) -> tuple[DatasetSpec, int, Callable[[np.ndarray], Any]]:
    """(spec, number of examples in `split`, gather: int indices [B] -> batch dict)."""
    if name in LOCAL_DATASETS:
        spec = sources.local_spec(name, image_size)
        arrays = sources.local_arrays(name, data_dir, split)
        x, label = arrays['x'], arrays['label']
        if spec.kind == 'image':
            x = _resize_all(x, spec.shape[0])

            def gather(idx):
                return {'x': _to_float_images(x[idx]), 'label': label[idx]}
        else:
            def gather(idx):
                return {'x': x[idx], 'label': label[idx]}
        return spec, len(label), gather

    builder = sources.tfds_builder(name, data_dir)
    spec = sources.tfds_spec(builder, name, image_size, data_dir)
    source = sources.tfds_source(builder, name, split, data_dir)
    size = image_size
    labeled = spec.num_classes is not None

    def gather(idx):
        records = [source[int(i)] for i in idx]
        images = [r['image'] for r in records]
        if size is not None:
            images = [sources.resize_image(im, size) for im in images]
        batch = {'x': _to_float_images(np.stack(images))}
        if labeled:
            batch['label'] = np.asarray([r['label'] for r in records], np.int32)
        return batch
    return spec, len(source), gather


def split_arrays(name: str, *, split: str = 'train', image_size: int | None = None,
                 data_dir: str | None = None) -> dict[str, np.ndarray]:
    """Every example of `split` at once, preprocessed as `make_iterator` yields them ({'x'}, and
    'label' where the dataset has labels): for in-memory use such as in-program sampling."""
    _, size, gather = _gather_fn(name, split, image_size, resolve_data_dir(data_dir))
    return gather(np.arange(size))


class _EpochOrder:
    """Batch number -> example indices of one process: batch k is slice j of epoch e's order.

    The shard of process p is examples p, p + count, ... of the split's first
    N // count * count; epoch e's order is a permutation of the shard drawn from
    numpy's PCG64 seeded by (seed, p, e) (or the shard in order when not shuffling), of which the
    first batches_per_epoch * batch_size are used. Computed per batch with numpy (a few
    microseconds) rather than per example, which keeps large batches of tiny examples fast.
    """

    def __init__(self, num_examples: int, process_index: int, process_count: int,
                 batch_size: int, seed: int, shuffle: bool):
        shard_size = num_examples // process_count
        self.shard = np.arange(process_index, shard_size * process_count, process_count)
        self.batch_size = batch_size
        self.batches_per_epoch = shard_size // batch_size
        self.seed = int(seed)
        self.process_index = process_index
        self.shuffle = shuffle
        self._order = functools.lru_cache(maxsize=2)(self._epoch_order)

    def _epoch_order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return self.shard
        # SeedSequence mixes its entropy: seeds s and s + 1 share no epoch orders, and processes
        # permute their shards independently.
        entropy = [abs(self.seed), int(self.seed < 0), self.process_index, epoch]
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

    Yields {'x': float32 [global_batch_size // process_count, *spec.shape], 'label': int32 [...]}
    ('label' only for labeled datasets). Images are NHWC in [-1, 1]; points are unscaled.
    `num_epochs=None` repeats forever. Same arguments => same batches; `it.set_state(state)` on a
    fresh iterator continues exactly where the iterator that produced `state` was.
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
    if image_size is not None and image_size <= 0:
        raise ValueError(f'image_size must be positive, got {image_size}.')
    batch_size = global_batch_size // process_count
    data_dir = resolve_data_dir(data_dir)

    _, num_examples, gather = _gather_fn(name, split, image_size, data_dir)
    shard_size = num_examples // process_count
    batches_per_epoch = shard_size // batch_size
    if batches_per_epoch == 0:
        raise ValueError(
            f'{name}[{split}] has {num_examples} examples, {shard_size} per process for '
            f'{process_count} processes: fewer than one batch of {batch_size} per process.')

    order = _EpochOrder(num_examples, process_index, process_count, batch_size, seed, shuffle)
    num_batches = sys.maxsize if num_epochs is None else num_epochs * batches_per_epoch
    ds = grain.MapDataset.range(num_batches).map(order).map(gather)
    if num_threads is None:
        num_threads = 0 if name in LOCAL_DATASETS else 8
    read_options = grain.ReadOptions(num_threads=num_threads,
                                     prefetch_buffer_size=max(2 * num_threads, 1))
    return iter(ds.to_iter_dataset(read_options))
