"""Generating images from a trained state: uint8 arrays, PNG grids and the `gans sample` file."""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from gans.engine.state import GANState, Inputs

# (key, num) -> `num` generator inputs: a prior game's `sample_latents` (see `runs.prior_sampler`).
LatentSampler = Callable[[jax.Array, int], Inputs]


def to_uint8(images: jax.Array | np.ndarray) -> np.ndarray:
    """[-1, 1] floats -> uint8 [0, 255], rounding to nearest."""
    images = np.asarray(images, np.float32)
    return np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def generate(state: GANState, inputs: Inputs, *, use_ema: bool = True, key: jax.Array | None = None) -> np.ndarray:
    """G(inputs) in inference mode as numpy; `key` feeds the generator's rng streams (test-time
    dropout), default a fixed key, so the same inputs give the same outputs."""
    # A pytree for generators that return several outputs (CycleGAN's {'a', 'b'}).
    return jax.tree.map(np.asarray, _generate_jit(state, inputs, use_ema, jax.random.key(0) if key is None else key))


@jax.jit(static_argnames='use_ema')
def _generate_jit(state: GANState, inputs: Inputs, use_ema: bool, key: jax.Array) -> jax.Array:
    return state.generate(inputs, use_ema=use_ema, key=key)


def sample_batches(state: GANState, sample_latents: LatentSampler, key: jax.Array, num: int, *,
                   batch_size: int = 500, use_ema: bool = True) -> Iterator[np.ndarray]:
    """Yields `num` samples in chunks: images as uint8 NHWC, other outputs (2-D points) as float32.

    `sample_latents(key, n)` is the game's (`game.sample_latents`). Latents of the chunk starting
    at sample i come from `fold_in(key, i)`, so a key gives the same samples whatever consumes
    them, and nothing holds all of them at once.
    """
    for samples, _ in sample_batches_with_inputs(state, sample_latents, key, num, batch_size=batch_size,
                                                 use_ema=use_ema):
        yield samples


def sample_batches_with_inputs(state: GANState, sample_latents: LatentSampler, key: jax.Array, num: int, *,
                               batch_size: int = 500, use_ema: bool = True) -> Iterator[tuple[np.ndarray, dict]]:
    """`sample_batches`, each chunk with the generator's non-z inputs as numpy (labels, codes;
    empty if it has none): (samples, inputs)."""
    for start in range(0, num, batch_size):
        size = min(batch_size, num - start)
        chunk_key = jax.random.fold_in(key, start)
        latents = sample_latents(chunk_key, size)
        out = generate(state, latents, use_ema=use_ema, key=jax.random.fold_in(chunk_key, 1))
        out = to_uint8(out) if out.ndim == 4 else out.astype(np.float32)
        yield out, ({k: np.asarray(v) for k, v in latents.items() if k != 'z'} if isinstance(latents, dict) else {})


def sample_outputs(state: GANState, sample_latents: LatentSampler, key: jax.Array, num: int,
                   **kwargs) -> np.ndarray:
    """All of `sample_batches` as one array."""
    return np.concatenate(list(sample_batches(state, sample_latents, key, num, **kwargs)))


def image_grid(images: np.ndarray, columns: int | None = None) -> np.ndarray:
    """Tiles uint8 NHWC images into one [rows*H, columns*W, C] image with 1-pixel gaps."""
    num, height, width, channels = images.shape
    columns = columns or math.ceil(math.sqrt(num))
    rows = math.ceil(num / columns)
    grid = np.zeros((rows * (height + 1) + 1, columns * (width + 1) + 1, channels), np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        grid[1 + r * (height + 1):(r + 1) * (height + 1), 1 + c * (width + 1):(c + 1) * (width + 1)] = image
    return grid


def save_png(image: np.ndarray, path: str) -> None:
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(path)


def points_image(points: np.ndarray, extent: float = 5.0, size: int = 256) -> np.ndarray:
    """Rasterises 2-D samples in [-extent, extent]^2 as dark dots on white, for the 2-D mixtures."""
    points = np.asarray(points, np.float32)
    pixels = np.round((points + extent) / (2 * extent) * (size - 1)).astype(int)
    inside = np.all((pixels >= 0) & (pixels < size), axis=1)
    image = np.full((size, size, 1), 255, np.uint8)
    # Row 0 is the top of the image, so y is flipped.
    image[size - 1 - pixels[inside, 1], pixels[inside, 0]] = 0
    return image
