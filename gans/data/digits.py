"""`digits`: scikit-learn's 1797 real handwritten digits as a 32x32x1 TFDS dataset.

The data ships inside scikit-learn (`sklearn.datasets.load_digits`), so building needs no
download. The builder is not put in TFDS's global registry (a name clash with a future TFDS
dataset, or a module reload, would otherwise break `import gans.data`); `gans.data` builds and
reads it by class.
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

IMAGE_SIZE = 32
NUM_CLASSES = 10
NUM_EXAMPLES = 1797
NUM_TEST = 300
SPLIT_SEED = 0
NUM_EXAMPLES_PER_SPLIT = {'train': NUM_EXAMPLES - NUM_TEST, 'test': NUM_TEST}

_DESCRIPTION = f"""\
The 1797 real 8x8 handwritten digits of the UCI "Optical Recognition of Handwritten Digits"
test set, as shipped by scikit-learn (`sklearn.datasets.load_digits`), labels 0-9.

Preprocessing: intensities 0..16 are scaled to 0..255 (x * 255 / 16, rounded) and the 8x8
image is upsampled to {IMAGE_SIZE}x{IMAGE_SIZE}x1 uint8 with PIL bicubic interpolation
(bicubic keeps strokes crisper than bilinear and, unlike Lanczos, shows no visible ringing;
nearest would keep the 8x8 blocks).

Splits: a fixed stratified split with seed {SPLIT_SEED}: {NUM_TEST} test examples (each class
gets its share of the 300 in proportion to its size, largest remainder rounding, so 29-31 per
class) and {NUM_EXAMPLES - NUM_TEST} train examples. The split does not depend on the
scikit-learn version (it is drawn with numpy's PCG64 from the class labels alone).
"""


def upsample(images_0_16: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """[N, 8, 8] intensities 0..16 -> [N, size, size, 1] uint8 (scale to 0..255, PIL bicubic)."""
    scaled = np.clip(np.rint(np.asarray(images_0_16, np.float64) * (255.0 / 16.0)), 0, 255)
    scaled = scaled.astype(np.uint8)
    out = np.empty((len(scaled), size, size, 1), np.uint8)
    for i, img in enumerate(scaled):
        out[i, :, :, 0] = np.asarray(
            Image.fromarray(img).resize((size, size), Image.BICUBIC))
    return out


def stratified_split(labels: np.ndarray, num_test: int = NUM_TEST,
                     seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test), each sorted; test has `num_test` examples stratified by label."""
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * num_test / len(labels)
    per_class = np.floor(quota).astype(int)
    # Largest remainder: the classes with the largest fractional parts get the leftover slots.
    leftover = num_test - per_class.sum()
    per_class[np.argsort(-(quota - per_class), kind='stable')[:leftover]] += 1
    rng = np.random.default_rng(seed)
    test = []
    for c, k in zip(classes, per_class):
        idx = np.flatnonzero(labels == c)
        test.append(rng.permutation(idx)[:k])
    test = np.sort(np.concatenate(test))
    train = np.setdiff1d(np.arange(len(labels)), test)
    return train, test


def load_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images [N, 32, 32, 1] uint8, labels [N] int64) of a split, straight from scikit-learn."""
    from sklearn.datasets import load_digits  # pylint: disable=g-import-not-at-top
    digits = load_digits()
    train, test = stratified_split(digits.target)
    idx = {'train': train, 'test': test}[split]
    return upsample(digits.images[idx]), digits.target[idx].astype(np.int64)


class Digits(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """scikit-learn's 1797 8x8 digits, upsampled to 32x32x1 (PIL bicubic); see _DESCRIPTION."""

    name = 'digits'
    VERSION = tfds.core.Version('1.0.0')
    RELEASE_NOTES = {'1.0.0': 'Initial release.'}
    # TFDS looks for a checksums file next to the builder's code; finding that path for a builder
    # inside a package imports `importlib_resources`, which TFDS does not depend on. Nothing is
    # downloaded here, so there are no checksums: skip the lookup.
    code_path = None

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=_DESCRIPTION,
            features=tfds.features.FeaturesDict({
                'image': tfds.features.Image(shape=(IMAGE_SIZE, IMAGE_SIZE, 1)),
                'label': tfds.features.ClassLabel(num_classes=NUM_CLASSES),
            }),
            supervised_keys=('image', 'label'),
            homepage='https://scikit-learn.org/stable/modules/generated/sklearn.datasets.load_digits.html',
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # The data ships with scikit-learn.
        return {split: self._generate_examples(split) for split in ('train', 'test')}

    def _generate_examples(self, split):
        images, labels = load_arrays(split)
        for i, (image, label) in enumerate(zip(images, labels)):
            # Image encoding without TensorFlow needs a PIL image, not a numpy array.
            yield i, {'image': Image.fromarray(image[:, :, 0]), 'label': int(label)}
