"""The fully connected generator and discriminator of Goodfellow et al. (2014).

The paper's G uses ReLU hidden units and D uses maxout; LeakyReLU stands in for maxout here
(same role, piecewise linear, no dead units) so that D stays a plain MLP. Works on any
per-example shape: 2-D points for the mixtures, flattened images otherwise.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


class MLPGenerator(nn.Module):
    output_shape: Sequence[int]
    hidden: Sequence[int] = (256, 256)
    # Images are scaled to [-1, 1]; points are unbounded.
    tanh_output: bool = True

    @nn.compact
    def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
        if z.ndim != 2:
            raise ValueError(f'MLPGenerator expects latents of shape [batch, dim], got {z.shape}')
        h = z
        for width in self.hidden:
            h = nn.relu(nn.Dense(width)(h))
        out = nn.Dense(math.prod(self.output_shape))(h)
        if self.tanh_output:
            out = jnp.tanh(out)
        return out.reshape((z.shape[0], *self.output_shape))


class MLPDiscriminator(nn.Module):
    input_shape: Sequence[int]
    hidden: Sequence[int] = (256, 256)

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
        if tuple(x.shape[1:]) != tuple(self.input_shape):
            raise ValueError(f'MLPDiscriminator expects inputs [batch, *{tuple(self.input_shape)}], got {x.shape}')
        h = x.reshape((x.shape[0], -1))
        for width in self.hidden:
            h = nn.leaky_relu(nn.Dense(width)(h), 0.2)
        return nn.Dense(1)(h)[:, 0]
