"""`fashion_mnist`: Zalando's 70,000 real 28x28 grayscale article images in 10 classes.

Where the examples come from, in this order:

1. TFDS's own `fashion_mnist`, if it is prepared in the data dir as array_record: read through
   `tfds` like any TFDS dataset (its record order is TFDS's shuffled one).
2. Otherwise this package's builder `gans_fashion_mnist`, built on first use from the four IDX
   files that Debian's `dataset-fashion-mnist` package installs in DEFAULT_IDX_DIR
   ($GANS_FASHION_MNIST_DIR overrides the directory). Examples keep the IDX order.
3. Neither: `DatasetNotPreparedError` with both ways to get the data (`not_available_message`).

The local builder stores the image as a uint8 `Tensor` (no PNG coding: reading all 70,000
examples takes a few seconds instead of ~15 s) and the label as TFDS's ClassLabel with TFDS's
class names, so the DatasetSpec and the batches are the same as from TFDS's dataset.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from gans.data import idx

NAME = 'fashion_mnist'
IDX_DIR_ENV = 'GANS_FASHION_MNIST_DIR'
DEFAULT_IDX_DIR = '/usr/share/datasets/fashion-mnist'
# TFDS's names, index = label.
CLASS_NAMES = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt',
               'Sneaker', 'Bag', 'Ankle boot')
NUM_CLASSES = len(CLASS_NAMES)
SANDAL, SNEAKER, ANKLE_BOOT = 5, 7, 9
FOOTWEAR = (SANDAL, SNEAKER, ANKLE_BOOT)
IMAGE_SHAPE = (28, 28, 1)
NUM_EXAMPLES_PER_SPLIT = {'train': 60_000, 'test': 10_000}  # Of the real dataset.
IDX_FILES = {'train': ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'),
             'test': ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz')}


def idx_dir() -> str:
    """$GANS_FASHION_MNIST_DIR, else Debian's DEFAULT_IDX_DIR."""
    return os.path.expanduser(os.environ.get(IDX_DIR_ENV) or DEFAULT_IDX_DIR)


def missing_idx_files(directory: str | None = None) -> list[str]:
    directory = directory or idx_dir()
    names = [name for pair in IDX_FILES.values() for name in pair]
    return [n for n in names if not os.path.isfile(os.path.join(directory, n))]


def idx_counts(directory: str | None = None) -> dict[str, int] | None:
    """Examples per split according to the IDX headers (cheap), or None if a file is missing."""
    directory = directory or idx_dir()
    if missing_idx_files(directory):
        return None
    return {split: idx.read_header(os.path.join(directory, images))[1][0]
            for split, (images, _) in IDX_FILES.items()}


def load_idx_split(split: str, directory: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, 28, 28, 1], labels int64 [N]) of a split, in IDX order.

    Checks that both files are well-formed IDX files of the right type and rank, that images
    are 28x28, that there are as many labels as images and that labels are 0-9.
    """
    directory = directory or idx_dir()
    if split not in IDX_FILES:
        raise ValueError(f'Fashion-MNIST has splits {sorted(IDX_FILES)}, not {split!r}.')
    image_path, label_path = (os.path.join(directory, n) for n in IDX_FILES[split])
    images = idx.read_idx(image_path, dtype=np.uint8, ndim=3)
    labels = idx.read_idx(label_path, dtype=np.uint8, ndim=1)
    if images.shape[1:] != IMAGE_SHAPE[:2]:
        raise idx.IdxFormatError(f'{image_path}: images are {images.shape[1:]}, Fashion-MNIST '
                                 f'images are {IMAGE_SHAPE[:2]}.')
    if len(labels) != len(images):
        raise idx.IdxFormatError(f'{label_path} has {len(labels)} labels but {image_path} has '
                                 f'{len(images)} images.')
    if len(labels) and labels.max() >= NUM_CLASSES:
        raise idx.IdxFormatError(f'{label_path}: label {labels.max()} is not a class 0-9.')
    return images[:, :, :, None], labels.astype(np.int64)


def tfds_builder_if_prepared(data_dir: str | None) -> tfds.core.DatasetBuilder | None:
    """TFDS's `fashion_mnist` builder if it is prepared in `data_dir` (None: TFDS's default
    dir) as array_record, else None."""
    root = data_dir or tfds.core.constants.get_default_data_dir()
    if not epath.Path(root, NAME).exists():  # Cheap, and spares TFDS's missing-info warnings.
        return None
    builder = tfds.builder(NAME, data_dir=data_dir)
    if builder.is_prepared() and builder.info.file_format == tfds.core.FileFormat.ARRAY_RECORD:
        return builder
    return None


def not_available_message(data_dir: str | None, needed_by: str = NAME) -> str:
    directory = idx_dir()
    if os.path.isdir(directory):
        idx_state = f'{directory} lacks {", ".join(missing_idx_files(directory))}'
    else:
        idx_state = f'there is no {directory}'
    dir_flag = f' --data_dir {data_dir}' if data_dir else ''
    where = data_dir or f'{tfds.core.constants.DATA_DIR} (TFDS default)'
    return (f'{needed_by} needs Fashion-MNIST, which is not available: TFDS\'s fashion_mnist is '
            f'not prepared as array_record in the data dir {where}, and {idx_state}. Either\n'
            f'  apt-get install dataset-fashion-mnist   (IDX files in {DEFAULT_IDX_DIR}),\n'
            f'  or set ${IDX_DIR_ENV} to a directory holding '
            f'{", ".join(n for pair in IDX_FILES.values() for n in pair)};\n'
            f'or prepare TFDS\'s copy once with\n'
            f'  tfds build fashion_mnist --file_format=array_record{dir_flag}')


class FashionMnist(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Fashion-MNIST from local IDX files; features and splits as TFDS's `fashion_mnist`."""

    # Not `fashion_mnist`: the data dir may also hold TFDS's own copy under that name.
    name = 'gans_fashion_mnist'
    VERSION = tfds.core.Version('1.0.0')
    RELEASE_NOTES = {'1.0.0': 'Initial release.'}
    # See gans.data.digits.Digits.code_path: no checksums, nothing is downloaded.
    code_path = None

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=tfds.features.FeaturesDict({
                'image': tfds.features.Tensor(shape=IMAGE_SHAPE, dtype=np.uint8, encoding='bytes'),
                'label': tfds.features.ClassLabel(names=CLASS_NAMES),
            }),
            supervised_keys=('image', 'label'),
            homepage='https://github.com/zalandoresearch/fashion-mnist',
            # Records sorted by their integer keys, not TFDS's key hashes: IDX order.
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # The IDX files are local.
        directory = idx_dir()
        if missing_idx_files(directory):
            raise FileNotFoundError(not_available_message(str(self.data_dir_root)))
        return {split: self._generate_examples(split, directory) for split in IDX_FILES}

    def _generate_examples(self, split, directory):
        images, labels = load_idx_split(split, directory)
        for i, (image, label) in enumerate(zip(images, labels)):
            yield i, {'image': image, 'label': int(label)}
