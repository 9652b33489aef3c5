"""Datasets and the input pipeline.

- `digits`: scikit-learn's 1797 real 8x8 handwritten digits at 32x32x1 (labels 0-9).
- `ring8`, `grid25`: 2-D Gaussian mixtures; `MIXTURES[name]` has their centers and std.
- `fashion_mnist`: Fashion-MNIST, 70,000 real 28x28x1 article images in 10 classes, from
  TFDS's copy if prepared, else from Debian's `dataset-fashion-mnist` IDX files
  (`gans.data.fashion`).
- `fashion_edges` (paired: Canny edges -> footwear, like pix2pix's edges2shoes) and
  `fashion_sneaker2boot` (unpaired: Sneaker <-> Ankle boot, like CycleGAN's horse2zebra):
  derived from Fashion-MNIST (`gans.data.derived.REGISTRY`).
- any other name: a TFDS image dataset prepared with `--file_format=array_record`; one with
  trainA/trainB/testA/testB splits (TFDS's `cycle_gan/*`) is unpaired.

Batches per kind (`DatasetSpec.kind`): image/points {'x', 'label'}, paired {'source', 'target',
'label'}, unpaired {'a', 'b', 'a_label', 'b_label'}; see `gans.data.pipeline`.

The local datasets are built (TFDS, array_record) into the data dir on first use: the
`data_dir` argument, else $GANS_DATA_DIR, else TFDS's default (~/tensorflow_datasets).
"""

from gans.data.derived import REGISTRY as DERIVED_DATASETS
from gans.data.fashion import IDX_DIR_ENV as FASHION_MNIST_DIR_ENV
from gans.data.idx import IdxFormatError
from gans.data.mixtures import MIXTURES
from gans.data.mixtures import MixtureSpec
from gans.data.pipeline import config_spec
from gans.data.pipeline import dataset_spec
from gans.data.pipeline import make_iterator
from gans.data.pipeline import split_arrays
from gans.data.sources import BATCH_KEYS
from gans.data.sources import DATA_DIR_ENV
from gans.data.sources import DatasetNotPreparedError
from gans.data.sources import DatasetSpec
from gans.data.sources import LOCAL_DATASETS
from gans.data.sources import prepare_local
from gans.data.sources import resolve_data_dir

__all__ = [
    'BATCH_KEYS', 'DATA_DIR_ENV', 'DERIVED_DATASETS', 'DatasetNotPreparedError', 'DatasetSpec',
    'FASHION_MNIST_DIR_ENV', 'IdxFormatError', 'LOCAL_DATASETS', 'MIXTURES', 'MixtureSpec',
    'config_spec', 'dataset_spec', 'make_iterator', 'prepare_local', 'resolve_data_dir',
    'split_arrays',
]
