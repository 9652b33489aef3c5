"""Datasets and the input pipeline.

- `digits`: scikit-learn's 1797 real 8x8 handwritten digits at 32x32x1 (labels 0-9).
- `ring8`, `grid25`: 2-D Gaussian mixtures; `MIXTURES[name]` has their centers and std.
- any other name: a TFDS image dataset prepared with `--file_format=array_record`.

The local datasets are built (TFDS, array_record) into the data dir on first use: the
`data_dir` argument, else $GANS_DATA_DIR, else TFDS's default (~/tensorflow_datasets).
"""

from gans.data.mixtures import MIXTURES
from gans.data.mixtures import MixtureSpec
from gans.data.pipeline import config_spec
from gans.data.pipeline import dataset_spec
from gans.data.pipeline import make_iterator
from gans.data.pipeline import split_arrays
from gans.data.sources import DATA_DIR_ENV
from gans.data.sources import DatasetNotPreparedError
from gans.data.sources import DatasetSpec
from gans.data.sources import LOCAL_DATASETS
from gans.data.sources import prepare_local
from gans.data.sources import resolve_data_dir

__all__ = [
    'DATA_DIR_ENV', 'DatasetNotPreparedError', 'DatasetSpec', 'LOCAL_DATASETS', 'MIXTURES',
    'MixtureSpec', 'config_spec', 'dataset_spec', 'make_iterator', 'prepare_local', 'resolve_data_dir',
    'split_arrays',
]
