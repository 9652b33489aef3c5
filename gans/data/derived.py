"""Datasets derived from another dataset's examples: their definitions, and one TFDS builder.

`REGISTRY[name]` is a `Paired`, an `Unpaired` or a `Subset` definition; `DerivedBuilder(config=name)`
builds it (array_record, on first use, via `gans.data.prepare_local`) from its parent's
examples, which `gans.data.sources` resolves (for `fashion_mnist`: TFDS's copy or the IDX
files) and hands to the builder. Examples keep the parent's order.

- Paired: each parent example of the kept classes becomes {'source', 'target', 'label'}:
  target = the parent image resized to image_size (`images.resize_image`, PIL bicubic),
  source = make_source(target). Splits: the parent's.
- Subset: the parent examples of the kept classes, resized, {'image', 'label'}; the parent's
  splits (StarGAN's domains are classes of one labelled set).
- Unpaired: domain A, B, ... = the parent examples of the given class sets, resized;
  stored like TFDS's cycle_gan, {'image', 'label'} in splits trainA, trainB, testA, testB, ...
  so the pipeline reads both kinds of unpaired dataset the same way.

Labels are the parent's classes (ClassLabel with the parent's names). A new dataset is a few
lines here, e.g. StarGAN's three footwear domains:

    Unpaired(name='fashion_footwear3', description='Sandal / Sneaker / Ankle boot as domains A / B / C.',
             domains=((fashion.SANDAL,), (fashion.SNEAKER,), (fashion.ANKLE_BOOT,)))
"""

from __future__ import annotations

import dataclasses
import string
from typing import Callable

import numpy as np
import tensorflow_datasets as tfds

from gans.data import edges
from gans.data import fashion
from gans.data import images as images_lib

# Parent datasets: class names (index = label), channels and splits of their images.
PARENTS = {fashion.NAME: dict(class_names=fashion.CLASS_NAMES, channels=1,
                              splits=tuple(fashion.IDX_FILES))}


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Definition:
    name: str
    description: str
    parent: str = fashion.NAME
    image_size: int = 32
    version: str = '1.0.0'


@dataclasses.dataclass(frozen=True, kw_only=True)
class Paired(_Definition):
    """(source, target) pairs: target = parent image resized, source = make_source(target)."""
    # uint8 target [S, S, C] -> uint8 source [S, S, source_channels].
    make_source: Callable[[np.ndarray], np.ndarray]
    source_channels: int
    classes: tuple[int, ...]  # parent classes kept
    kind = 'paired'


@dataclasses.dataclass(frozen=True, kw_only=True)
class Subset(_Definition):
    """The parent examples of some classes, resized, with their parent labels: {'image', 'label'}."""
    classes: tuple[int, ...]  # parent classes kept
    kind = 'image'


@dataclasses.dataclass(frozen=True, kw_only=True)
class Unpaired(_Definition):
    """Domains A, B, ...: the parent examples whose class is in domains[0], domains[1], ..."""
    domains: tuple[tuple[int, ...], ...]
    kind = 'unpaired'

    def split_names(self, split: str) -> tuple[str, ...]:
        return tuple(f'{split}{letter}' for letter in string.ascii_uppercase[:len(self.domains)])


FASHION_EDGES = Paired(
    name='fashion_edges',
    description=('pix2pix edges2shoes on real product images: Fashion-MNIST footwear (Sandal, '
                 'Sneaker, Ankle boot; 18,000 train / 3,000 test) at 32x32x1 as `target`, its '
                 'Canny edge map (sigma 1, thresholds 0.1 / 0.2, black 0 on white 255; see '
                 'gans.data.edges) as `source`, the Fashion-MNIST class as `label`.'),
    make_source=edges.edge_map, source_channels=1, classes=fashion.FOOTWEAR)

FASHION_SNEAKER2BOOT = Unpaired(
    name='fashion_sneaker2boot',
    description=('CycleGAN\'s footwear analogue of horse2zebra: domain A = Fashion-MNIST '
                 'Sneaker (class 7), domain B = Ankle boot (class 9), at 32x32x1; splits '
                 'trainA/trainB (6,000 each) and testA/testB (1,000 each).'),
    domains=((fashion.SNEAKER,), (fashion.ANKLE_BOOT,)))

FASHION_FOOTWEAR = Subset(
    name='fashion_footwear',
    description=('StarGAN\'s domains on real images: the Fashion-MNIST footwear (Sandal, Sneaker, '
                 'Ankle boot; 18,000 train / 3,000 test) at 32x32x1, each with its Fashion-MNIST '
                 'class as `label`, the domain.'),
    classes=fashion.FOOTWEAR)

REGISTRY: dict[str, Paired | Unpaired | Subset] = {
    d.name: d for d in (FASHION_EDGES, FASHION_SNEAKER2BOOT, FASHION_FOOTWEAR)}

ParentSplit = Callable[[str], tuple[np.ndarray, np.ndarray]]  # split -> (uint8 images, labels)


class DerivedBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """All REGISTRY datasets, one BuilderConfig each; see the module docstring.

    `parent_split` (needed to build, not to read): split -> (uint8 images [N, H, W, C], int
    labels [N]) of the parent dataset.
    """

    name = 'gans_derived'
    BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=d.name, version=d.version,
                                               description=d.description)
                       for d in REGISTRY.values()]
    code_path = None  # See gans.data.digits.Digits.code_path.

    def __init__(self, *, parent_split: ParentSplit | None = None, **kwargs):
        super().__init__(**kwargs)
        self._parent_split = parent_split

    @property
    def definition(self) -> Paired | Unpaired | Subset:
        return REGISTRY[self.builder_config.name]

    def _info(self) -> tfds.core.DatasetInfo:
        d = self.definition
        parent = PARENTS[d.parent]
        size = d.image_size

        def image(channels):
            # Raw bytes, not PNG: reading stays fast (see gans.data.fashion).
            return tfds.features.Tensor(shape=(size, size, channels), dtype=np.uint8,
                                        encoding='bytes')

        label = tfds.features.ClassLabel(names=parent['class_names'])
        if d.kind == 'paired':
            features = {'source': image(d.source_channels), 'target': image(parent['channels']),
                        'label': label}
        else:
            features = {'image': image(parent['channels']), 'label': label}
        return tfds.core.DatasetInfo(builder=self, description=d.description,
                                     features=tfds.features.FeaturesDict(features),
                                     metadata=tfds.core.MetadataDict(),
                                     # Sorted by integer key: the parent's order.
                                     disable_shuffling=True)

    def _split_generators(self, dl_manager):
        del dl_manager  # Made from the parent's examples.
        if self._parent_split is None:
            raise RuntimeError(f'Building {self.definition.name} needs its parent\'s examples; '
                               'build it with gans.data.prepare_local(name).')
        d = self.definition
        parent = {split: self._parent_split(split) for split in PARENTS[d.parent]['splits']}
        # Recorded so that a build from other parent data (e.g. small test IDX files) is noticed.
        self.info.metadata['parent_num_examples'] = {k: len(v[1]) for k, v in parent.items()}
        if d.kind != 'unpaired':
            return {split: self._generate_examples(*parent[split], d.classes, paired=d.kind == 'paired')
                    for split in parent}
        return {name: self._generate_examples(*parent[split], classes, paired=False)
                for split in parent for name, classes in zip(d.split_names(split), d.domains)}

    def _generate_examples(self, parent_images, parent_labels, classes, paired):
        d = self.definition
        keep = np.flatnonzero(np.isin(np.asarray(parent_labels), classes))
        for key, i in enumerate(keep):
            target = images_lib.resize_image(parent_images[i], d.image_size)
            label = int(parent_labels[i])
            if paired:
                source = d.make_source(target)
                yield key, {'source': source, 'target': target, 'label': label}
            else:
                yield key, {'image': target, 'label': label}
