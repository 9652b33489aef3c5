"""Latent-space figures of a trained model, as uint8 images (`sampling.save_png` writes them).

Each takes the trained state and the game's latent sampler (`game.sample_latents`), so it works
from a notebook as well as behind `gans interpolate|traverse|manifold|arithmetic`:

    state, config, game = inference.load_trained_run('runs/infogan')
    image = latent_figures.traversal(state, game.sample_latents, jax.random.key(0), {'codes': 10})
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from gans.inference import latent_space
from gans.inference.sampling import LatentSampler
from gans.engine.state import GANState


def interpolation(state: GANState, sample_latents: LatentSampler, key: jax.Array, *, rows: int = 8,
                  steps: int = 10, method: str = 'slerp') -> np.ndarray:
    """`rows` random pairs of latents, each row walking from one to the other in `steps`."""
    start_key, end_key = jax.random.split(key)
    latents = latent_space.interpolate(sample_latents(start_key, rows), sample_latents(end_key, rows),
                                       steps, method)
    return latent_space.render(state, latents, steps)


def traversal(state: GANState, sample_latents: LatentSampler, key: jax.Array,
              num_categories: Mapping[str, int | None], *, rows: int = 5, steps: int = 9,
              extent: float = 2.0) -> np.ndarray:
    """One block per code, stacked vertically: each continuous code swept over [-extent, extent]
    (`steps` columns) and each categorical entry named in `num_categories` ('codes', 'labels')
    over all its values, for `rows` random draws of everything else."""
    base = sample_latents(key, rows)
    if not isinstance(base, dict):
        raise ValueError('this model has no codes or labels to traverse (its generator takes z alone); '
                         'use interpolation instead')
    blocks = []
    for entry, count in num_categories.items():
        if entry in base and count:
            blocks.append(latent_space.render(state, latent_space.traverse_categorical(base, entry, count), count))
    if 'continuous_codes' in base:
        values = jnp.linspace(-extent, extent, steps)
        for index in range(base['continuous_codes'].shape[-1]):
            latents = latent_space.traverse_continuous(base, 'continuous_codes', index, values)
            blocks.append(latent_space.render(state, latents, steps))
    if not blocks:
        raise ValueError(f'nothing to traverse: the latents hold {sorted(base)}, and none of '
                         f'{sorted(num_categories)} has a known number of values')
    return stack_vertically(blocks)


def manifold(state: GANState, sample_latents: LatentSampler, key: jax.Array, *, size: int = 20) -> np.ndarray:
    """The decoded 2-D latent plane of a model with `latent_dim` 2, on the prior's quantile grid."""
    template = sample_latents(key, 1)
    z = template['z'] if isinstance(template, dict) else template
    if z.shape[-1] != 2:
        raise ValueError(f'the manifold grid needs a 2-D latent space; this model has latent_dim {z.shape[-1]}')
    return latent_space.render(state, latent_space.with_z(template, latent_space.manifold_grid(size)), size)


def arithmetic(state: GANState, sample_latents: LatentSampler, key: jax.Array, expression: str,
               classify: Callable[[np.ndarray], np.ndarray], num_classes: int, *,
               num_samples: int = 2000) -> np.ndarray:
    """One row: the mean latent of each class in `expression` (e.g. '7-1+0'), then their sum.

    Class means average the latents of `num_samples` samples grouped by `classify`.
    """
    terms = latent_space.parse_expression(expression)
    unknown = [group for _, group in terms if group >= num_classes]
    if unknown:
        raise ValueError(f'classes {unknown} in {expression!r} do not exist; there are {num_classes}')
    means, latents = latent_space.class_means(state, sample_latents, key, num_samples, classify, num_classes)
    row = jnp.stack([means[group] for _, group in terms] + [latent_space.arithmetic(means, terms)])
    return latent_space.render(state, latent_space.with_z(latents, row), row.shape[0])


def stack_vertically(images: list[np.ndarray], gap: int = 4) -> np.ndarray:
    """Stacks uint8 [H, W, C] images top to bottom, left-aligned on a black background."""
    width = max(image.shape[1] for image in images)
    height = sum(image.shape[0] for image in images) + gap * (len(images) - 1)
    canvas = np.zeros((height, width, images[0].shape[2]), np.uint8)
    top = 0
    for image in images:
        canvas[top:top + image.shape[0], :image.shape[1]] = image
        top += image.shape[0] + gap
    return canvas
