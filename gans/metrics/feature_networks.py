"""Pluggable feature networks: images -> (features, class probabilities).

- `digits`: the library's own digits classifier (128-d features, 10 classes), default for
  the `digits` dataset; its weights ship in the package.
- `fashion`: the library's own Fashion-MNIST classifier (128-d features, 10 classes), default
  for `fashion_mnist` and the datasets derived from it (every name starting with `fashion_`);
  its weights ship in the package.
- `inception`: InceptionV3 with the FID pool3 features (2048-d) and its 1008-way softmax,
  default for every other image dataset; its weights come from a local file (see
  `gans.metrics.inception_weights`).

`preprocessing` names how images reach the network; it is part of the reference-statistics
cache key, so statistics made one way are never compared with samples made another.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import numpy as np

Embed = Callable[[np.ndarray], dict[str, np.ndarray]]
FEATURE_NETWORKS = ('digits', 'fashion', 'inception')


@dataclasses.dataclass(frozen=True)
class FeatureNetwork:
    name: str
    preprocessing: str
    embed: Embed  # uint8 or [-1, 1] NHWC images -> {'features': [N, D], 'probs': [N, C]}


def default_feature_network(dataset: str) -> str:
    """The network that judges samples of `dataset`: the library's own classifier where one was
    trained on that data (Fashion-MNIST also for its derived `fashion_*` sets), else Inception."""
    if dataset == 'digits':
        return 'digits'
    if dataset.startswith('fashion_'):  # fashion_mnist, fashion_edges, fashion_sneaker2boot, ...
        return 'fashion'
    return 'inception'


def load_feature_network(name: str) -> FeatureNetwork:
    if name == 'digits':
        from gans.metrics import digits_classifier
        params = digits_classifier.load_params()
        return FeatureNetwork('digits', 'bilinear32', lambda images: digits_classifier.embed(params, images))
    if name == 'fashion':
        from gans.metrics import fashion_classifier
        fashion_params = fashion_classifier.load_params()
        return FeatureNetwork('fashion', 'bilinear32',
                              lambda images: fashion_classifier.embed(fashion_params, images))
    if name == 'inception':
        from gans.metrics import inception
        inception_embed = inception.feature_fn(inception.load_params())

        def embed(images: np.ndarray) -> dict[str, np.ndarray]:
            images = np.asarray(images)
            if images.dtype != np.uint8:
                images = np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)
            out = inception_embed(images)
            return {'features': out['pool3'], 'probs': np.asarray(jax.nn.softmax(out['logits']))}

        return FeatureNetwork('inception', 'uint8-bilinear299', embed)
    raise ValueError(f'unknown feature network {name!r}; valid: {list(FEATURE_NETWORKS)}')
