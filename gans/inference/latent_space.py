"""Latent-space tools: interpolation, traversal, vector arithmetic and the 2-D manifold grid.

Every function works on a game's latents (`game.sample_latents`): an array z, or a dict of
generator inputs ({'z', 'labels'} for class-conditional models, InfoGAN's {'z', 'codes',
'continuous_codes'}). Continuous entries are what moves; integer entries (labels, categorical
codes) are held fixed unless the tool is about them. Each tool returns latents laid out as a
grid, row by row, so `render` turns them into one PNG-ready image:

    latents = latent_space.interpolate(a, b, steps=8, method='slerp')   # rows = pairs
    image = latent_space.render(state, latents, columns=8)
"""
from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtri

from gans.inference import sampling
from gans.engine.state import GANState, Inputs as Latents

INTERPOLATIONS = ('linear', 'slerp')


def lerp(a: jax.Array, b: jax.Array, t: jax.Array) -> jax.Array:
    return (1.0 - t) * a + t * b


def slerp(a: jax.Array, b: jax.Array, t: jax.Array, eps: float = 1e-7) -> jax.Array:
    """Spherical interpolation along the great circle between rows of `a` and `b` (White 2016).

    Under a Gaussian prior most mass sits near a sphere, and a straight line between two
    latents passes through its low-norm interior; the arc keeps the norm typical. Nearly
    parallel pairs fall back to the straight line, where the arc is numerically undefined.
    """
    a_unit = a / jnp.linalg.norm(a, axis=-1, keepdims=True)
    b_unit = b / jnp.linalg.norm(b, axis=-1, keepdims=True)
    cos = jnp.clip(jnp.sum(a_unit * b_unit, axis=-1, keepdims=True), -1.0, 1.0)
    omega = jnp.arccos(cos)
    sin = jnp.sin(omega)
    parallel = sin < eps
    safe_sin = jnp.where(parallel, 1.0, sin)
    arc = (jnp.sin((1.0 - t) * omega) * a + jnp.sin(t * omega) * b) / safe_sin
    return jnp.where(parallel, lerp(a, b, t), arc)


def _is_continuous(x: jax.Array) -> bool:
    return jnp.issubdtype(x.dtype, jnp.floating)


def _map_entries(latents: Latents, fn: Callable[[str, jax.Array], jax.Array]) -> Latents:
    if isinstance(latents, dict):
        return {name: fn(name, value) for name, value in latents.items()}
    return fn('z', latents)


def _repeat_rows(latents: Latents, times: int) -> Latents:
    """[R, ...] -> [R * times, ...], each row repeated `times` times in place (one grid row each)."""
    return jax.tree.map(lambda x: jnp.repeat(x, times, axis=0), latents)


def interpolate(start: Latents, end: Latents, steps: int, method: str = 'linear') -> Latents:
    """R pairs of latents -> R * steps latents, row r going from start[r] to end[r] inclusive.

    Continuous entries are interpolated (`linear` or `slerp`); integer ones keep start's values.
    """
    if method not in INTERPOLATIONS:
        raise ValueError(f'unknown interpolation {method!r}; valid: {list(INTERPOLATIONS)}')
    if steps < 2:
        raise ValueError(f'interpolation needs at least 2 steps, got {steps}')
    mix = slerp if method == 'slerp' else lerp
    t = jnp.tile(jnp.linspace(0.0, 1.0, steps), jax.tree.leaves(start)[0].shape[0])[:, None]
    ends = end if isinstance(end, dict) else {'z': end}

    def entry(name, value):
        first = jnp.repeat(value, steps, axis=0)
        if not _is_continuous(value):
            return first
        return mix(first, jnp.repeat(ends[name], steps, axis=0), t.reshape((-1,) + (1,) * (value.ndim - 1)))

    return _map_entries(start, entry)


def traverse_continuous(base: Latents, entry: str, index: int, values: jax.Array) -> Latents:
    """Each row of `base` with `latents[entry][:, index]` swept over `values`: R * len(values) latents.

    For InfoGAN, `entry='continuous_codes'` and values from -2 to 2 show what one code controls.
    """
    values = jnp.asarray(values, jnp.float32)
    latents = _repeat_rows(base, values.shape[0])
    table = latents[entry] if isinstance(latents, dict) else latents
    if not 0 <= index < table.shape[-1]:
        raise ValueError(f'{entry} has {table.shape[-1]} dimensions; index {index} is out of range')
    swept = table.at[:, index].set(jnp.tile(values, jax.tree.leaves(base)[0].shape[0]))
    return {**latents, entry: swept} if isinstance(latents, dict) else swept


def traverse_categorical(base: Latents, entry: str, num_values: int) -> Latents:
    """Each row of `base` with the integer `entry` (InfoGAN's 'codes', or 'labels') set to 0..K-1."""
    if not isinstance(base, dict) or entry not in base:
        raise ValueError(f'these latents have no {entry!r} entry to traverse')
    latents = _repeat_rows(base, num_values)
    rows = jax.tree.leaves(base)[0].shape[0]
    return {**latents, entry: jnp.tile(jnp.arange(num_values, dtype=base[entry].dtype), rows)}


def manifold_grid(size: int, quantile_range: tuple[float, float] = (0.05, 0.95)) -> jax.Array:
    """[size * size, 2] latents on a grid of the 2-D standard normal's quantiles (Kingma & Welling).

    Equal steps in probability rather than in z, so the grid shows the prior's typical region.
    Rows run top to bottom in decreasing z[1], columns left to right in increasing z[0].
    """
    q = ndtri(jnp.linspace(*quantile_range, size))
    z0, z1 = jnp.meshgrid(q, q[::-1])
    return jnp.stack([z0.ravel(), z1.ravel()], axis=-1)


def with_z(template: Latents, z: jax.Array) -> Latents:
    """`template`'s other entries (first row, repeated) around new z rows."""
    if not isinstance(template, dict):
        return z
    return {**jax.tree.map(lambda x: jnp.repeat(x[:1], z.shape[0], axis=0), template), 'z': z}


def group_means(latents: Latents, groups: np.ndarray, num_groups: int) -> jax.Array:
    """Mean z of each group ([num_groups, latent_dim]); a group with no member raises."""
    z = latents['z'] if isinstance(latents, dict) else latents
    groups = np.asarray(groups)
    counts = np.bincount(groups, minlength=num_groups)
    if (counts == 0).any():
        raise ValueError(f'groups {np.flatnonzero(counts == 0).tolist()} have no samples to average')
    one_hot = jax.nn.one_hot(groups, num_groups, dtype=z.dtype)
    return (one_hot.T @ z) / counts[:, None]


def arithmetic(means: jax.Array, terms: list[tuple[int, int]]) -> jax.Array:
    """sum(sign * means[group]) for `terms` of (sign, group): e.g. [(+1, 7), (-1, 1), (+1, 0)]."""
    return sum(sign * means[group] for sign, group in terms)


def parse_expression(expression: str) -> list[tuple[int, int]]:
    """'7-1+0' -> [(+1, 7), (-1, 1), (+1, 0)]; groups are non-negative integers."""
    terms, sign, digits = [], 1, ''
    for char in expression.replace(' ', '') + '+':
        if char.isdigit():
            digits += char
        elif char in '+-':
            if not digits:
                raise ValueError(f'malformed latent expression {expression!r}: expected a group number before {char!r}')
            terms.append((sign, int(digits)))
            sign, digits = (1 if char == '+' else -1), ''
        else:
            raise ValueError(f'malformed latent expression {expression!r}: unexpected {char!r}')
    return terms


def render(state: GANState, latents: Latents, columns: int, *, use_ema: bool = True) -> np.ndarray:
    """Generates `latents` and tiles them `columns` per row: a uint8 image for `sampling.save_png`."""
    images = sampling.generate(state, latents, use_ema=use_ema)
    if images.ndim != 4:
        raise ValueError(f'latent-space grids need an image model; this one generates shape {images.shape}')
    return sampling.image_grid(sampling.to_uint8(images), columns)


def class_means(state: GANState, sample_latents: Callable[[jax.Array, int], Latents], key: jax.Array, num: int,
                classify: Callable[[np.ndarray], np.ndarray], num_classes: int) -> tuple[jax.Array, Latents]:
    """Mean z of `num` samples per class as `classify` (uint8 images -> class ids) judges them.

    Returns (means [num_classes, latent_dim], the sampled latents, a template for `with_z`).
    """
    latents = sample_latents(key, num)
    images = sampling.to_uint8(sampling.generate(state, latents))
    return group_means(latents, classify(images), num_classes), latents
