"""Convolution layers as a per-platform choice: the networks take their layer classes as
arguments (`conv`, `conv_transpose`, flax examples' `ModuleDef` style) and the model registry
picks them by platform.

- 'canonical': `convolution.Conv2D` / `ConvTranspose2D`, whose custom VJPs keep every
  derivative on the canonical convolutions XLA:CPU runs fast;
- 'xla': the same layers (same constructor, same parameters, same forward values) on plain
  `lax` convolutions, differentiated by JAX, for platforms whose compilers handle every
  convolution layout (GPU, TPU);
- 'auto' (default): 'canonical' on CPU, 'xla' elsewhere.

Parameters are identical under every choice, so a checkpoint trained on one platform restores
on another.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import flax.linen as nn
import jax
from jax import lax

from gans.models.ops import convolution

ModuleDef = Any
CONV_LAYERS = ('auto', 'canonical', 'xla')
_NHWC = ('NHWC', 'HWIO', 'NHWC')


def _xla_conv(x, kernel, strides, padding):
    strides, padding = convolution._check(x, kernel, strides, padding, 'conv_2d')  # pylint: disable=protected-access
    return lax.conv_general_dilated(x, kernel, strides, [(p, p) for p in padding], dimension_numbers=_NHWC)


def _xla_conv_transpose(x, kernel, strides, padding):
    strides, padding = convolution._check(x, kernel, strides, padding, 'conv_transpose_2d')  # pylint: disable=protected-access
    # Cropping p from the full transposed output is padding the dilated input by k - 1 - p.
    pads = [(k - 1 - p, k - 1 - p) for k, p in zip(kernel.shape[:2], padding)]
    return lax.conv_transpose(x, kernel, strides, pads, dimension_numbers=_NHWC)


class XlaConv2D(convolution._ConvLayer):  # pylint: disable=protected-access
    """`convolution.Conv2D` on `lax.conv_general_dilated`, differentiated by JAX."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return self._apply(x, _xla_conv)


class XlaConvTranspose2D(convolution._ConvLayer):  # pylint: disable=protected-access
    """`convolution.ConvTranspose2D` on `lax.conv_transpose`, differentiated by JAX."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return self._apply(x, _xla_conv_transpose)


class ConvLayers(NamedTuple):
    """The layer classes a network builds its (transposed) convolutions from."""
    conv: ModuleDef
    conv_transpose: ModuleDef


CANONICAL = ConvLayers(convolution.Conv2D, convolution.ConvTranspose2D)
XLA = ConvLayers(XlaConv2D, XlaConvTranspose2D)


def conv_layers(name: str = 'auto', platform: str | None = None) -> ConvLayers:
    """The layers `name` ('auto' | 'canonical' | 'xla') means on `platform` (default: jax's backend)."""
    if name not in CONV_LAYERS:
        raise ValueError(f'unknown conv_layers {name!r}; valid: {list(CONV_LAYERS)}')
    if name == 'auto':
        name = 'canonical' if (platform or jax.default_backend()) == 'cpu' else 'xla'
    return CANONICAL if name == 'canonical' else XLA
