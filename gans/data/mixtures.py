"""2-D Gaussian mixtures `ring8` and `grid25`, the mode-collapse benchmarks of the unrolled-GAN,
VEEGAN and PacGAN papers, as one TFDS builder `mixtures` with a BuilderConfig per mixture.

`MIXTURES[name]` holds the mode centers and the (isotropic) std that the 2-D metrics use
(modes covered, high-quality fraction).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds


@dataclasses.dataclass(frozen=True)
class MixtureSpec:
    """An equal-weight mixture of isotropic Gaussians in 2-D."""
    centers: np.ndarray  # float32 [num_modes, 2]
    std: float

    @property
    def num_modes(self) -> int:
        return len(self.centers)

    def sample(self, num: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(points float32 [num, 2], mode labels int64 [num]): modes drawn uniformly."""
        labels = rng.integers(0, self.num_modes, size=num)
        noise = rng.standard_normal((num, 2))
        points = self.centers.astype(np.float64)[labels] + self.std * noise
        return points.astype(np.float32), labels.astype(np.int64)


def _ring(num_modes: int, radius: float) -> np.ndarray:
    angles = 2 * np.pi * np.arange(num_modes) / num_modes
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], 1).astype(np.float32)


def _grid(values) -> np.ndarray:
    xs, ys = np.meshgrid(np.asarray(values, np.float32), np.asarray(values, np.float32),
                         indexing='ij')
    return np.stack([xs.ravel(), ys.ravel()], 1)


MIXTURES: dict[str, MixtureSpec] = {
    # 8 modes evenly on a circle of radius 2, std 0.02 (Metz et al. 2017, unrolled GANs).
    'ring8': MixtureSpec(centers=_ring(8, 2.0), std=0.02),
    # 5x5 modes at {-4,-2,0,2,4}^2, std 0.05 (Srivastava et al. 2017, VEEGAN; Lin et al. 2018, PacGAN).
    'grid25': MixtureSpec(centers=_grid([-4, -2, 0, 2, 4]), std=0.05),
}

NUM_EXAMPLES_PER_SPLIT = {'train': 100_000, 'test': 10_000}
# Seeds of numpy's PCG64, per (mixture, split): fixed, and different for every split.
_SEEDS = {('ring8', 'train'): 80, ('ring8', 'test'): 81,
          ('grid25', 'train'): 250, ('grid25', 'test'): 251}


def sample_split(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The exact (points, labels) of a split of a mixture, drawn from its fixed seed."""
    rng = np.random.default_rng(_SEEDS[(name, split)])
    return MIXTURES[name].sample(NUM_EXAMPLES_PER_SPLIT[split], rng)


class Mixtures(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """2-D Gaussian mixtures (configs `ring8`, `grid25`); features `point` and mode `label`."""

    name = 'mixtures'
    VERSION = tfds.core.Version('1.0.0')
    RELEASE_NOTES = {'1.0.0': 'Initial release.'}
    BUILDER_CONFIGS = [
        tfds.core.BuilderConfig(
            name=name,
            description=(f'{spec.num_modes} equal-weight isotropic Gaussians with std {spec.std}; '
                         f'{NUM_EXAMPLES_PER_SPLIT["train"]} train and '
                         f'{NUM_EXAMPLES_PER_SPLIT["test"]} test points drawn with fixed seeds.'))
        for name, spec in MIXTURES.items()
    ]
    # See gans.data.digits.Digits.code_path: no checksums, and avoids importing importlib_resources.
    code_path = None

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=tfds.features.FeaturesDict({
                'point': tfds.features.Tensor(shape=(2,), dtype=np.float32),
                'label': tfds.features.ClassLabel(num_classes=MIXTURES[self.builder_config.name].num_modes),
            }),
            supervised_keys=('point', 'label'),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Generated with numpy.
        return {split: self._generate_examples(split) for split in NUM_EXAMPLES_PER_SPLIT}

    def _generate_examples(self, split):
        points, labels = sample_split(self.builder_config.name, split)
        for i, (point, label) in enumerate(zip(points, labels)):
            yield i, {'point': point, 'label': int(label)}
