"""What the library's own feature networks (the digits and the Fashion-MNIST classifiers) share:
32x32 greyscale inputs in [-1, 1], float16 weights shipped in the package, batched embedding.

Each classifier module defines its Flax module and training, and calls these with its own
module, input shape and the script that makes its weights.
"""
from __future__ import annotations

import os
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

Embedding = dict[str, np.ndarray]


def to_network_input(images: np.ndarray, image_shape: tuple[int, int, int], network: str) -> np.ndarray:
    """uint8 [0, 255] or float [-1, 1] NHWC -> float32 [-1, 1] of `image_shape` (bilinear resize if needed)."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != image_shape[-1]:
        kind = {1: 'grayscale ', 3: 'RGB '}.get(image_shape[-1], '')
        raise ValueError(f'the {network} network takes {kind}NHWC images [N, H, W, {image_shape[-1]}], '
                         f'got {images.shape}')
    images = images.astype(np.float32) / 127.5 - 1.0 if images.dtype == np.uint8 else images.astype(np.float32)
    if images.shape[1:3] != image_shape[:2]:
        images = np.asarray(jax.image.resize(images, (len(images), *image_shape), 'bilinear'))
    return images


def save_params(params: dict, path: str) -> None:
    """Writes float16 weights: half the size, and the shipped accuracy is measured on them."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    half = jax.tree.map(lambda p: np.asarray(p, np.float16), params)
    with open(path, 'wb') as f:
        f.write(serialization.msgpack_serialize(half))


def load_params(path: str, module: nn.Module, image_shape: tuple[int, int, int], script: str) -> dict:
    """float32 parameters of `module` from a file of `save_params`, checked layer by layer.

    `script` is the command that makes the weights, named in the errors.
    """
    name = type(module).__name__
    if not os.path.isfile(path):
        raise FileNotFoundError(f'no {name} weights at {path}; make them with `{script}`')
    with open(path, 'rb') as f:
        restored = serialization.msgpack_restore(f.read())
    template = jax.eval_shape(  # shapes only: no initialisation is computed
        lambda: module.init(jax.random.key(0), jnp.zeros((1, *image_shape)))['params'])
    if jax.tree.structure(restored) != jax.tree.structure(template) or any(
            r.shape != t.shape for r, t in zip(jax.tree.leaves(restored), jax.tree.leaves(template))):
        raise ValueError(f'{path} does not hold {name} weights (different layers or shapes); retrain with `{script}`')
    return jax.tree.map(lambda p: jnp.asarray(p, jnp.float32), restored)


def embed(embed_fn: Callable[[dict, jax.Array], dict], params: dict, images: np.ndarray, batch_size: int = 1000
          ) -> Embedding:
    """`embed_fn(params, batch)` ({'features', 'probs'}) over `images` in batches, as numpy."""
    outs = [jax.device_get(embed_fn(params, images[i:i + batch_size])) for i in range(0, len(images), batch_size)]
    return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}
