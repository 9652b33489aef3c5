"""The fully connected generator and discriminator of Goodfellow et al. (2014).

The paper's G uses ReLU hidden units and D uses maxout; D's default is LeakyReLU (same role,
piecewise linear, no dead units), `maxout=k` gives the paper's k-piece maxout units. G may
batch-normalise its hidden layers (`batch_norm`, as in the VEEGAN / PacGAN mixture experiments).
Works on any per-example shape: 2-D points for the mixtures, flattened images otherwise.

The discriminator takes the mode-collapse remedies of `gans.models.minibatch` as options:
`pack` (PacGAN: m examples judged as one, so B examples give B / m logits) and
`batch_features` (a minibatch-discrimination or minibatch-std layer before the output).

`dtype` is the computation dtype of the dense layers (`config.compute_dtype`); parameters stay
float32 and outputs come back float32, so losses are float32.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gans.models import minibatch
from gans.models.ops.convolution import at_least_float32


class MLPGenerator(nn.Module):
    output_shape: Sequence[int]
    hidden: Sequence[int] = (256, 256)
    # Images are scaled to [-1, 1]; points are unbounded.
    tanh_output: bool = True
    batch_norm: bool = False  # batch norm before each hidden ReLU
    dtype: Any = None  # computation dtype (None: from inputs and parameters); parameters are float32

    @nn.compact
    def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
        if z.ndim != 2:
            raise ValueError(f'MLPGenerator expects latents of shape [batch, dim], got {z.shape}')
        h = z
        for width in self.hidden:
            h = nn.Dense(width, dtype=self.dtype)(h)
            if self.batch_norm:
                h = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=self.dtype)(h)
            h = nn.relu(h)
        out = nn.Dense(math.prod(self.output_shape), dtype=self.dtype)(h)
        if self.tanh_output:
            out = jnp.tanh(out)
        return at_least_float32(out.reshape((z.shape[0], *self.output_shape)))


class MLPDiscriminator(nn.Module):
    input_shape: Sequence[int]
    hidden: Sequence[int] = (256, 256)
    pack: int = 1
    batch_features: str = 'none'  # one of minibatch.BATCH_FEATURES
    minibatch_kernels: int = 32
    minibatch_kernel_dim: int = 8
    # 1: one real/fake logit per example, [B]; n > 1: n class logits, [B, n] (MAD-GAN).
    outputs: int = 1
    maxout: int = 1  # pieces per hidden unit; 1: LeakyReLU(0.2) units instead
    dtype: Any = None  # computation dtype (None: from inputs and parameters); parameters are float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True, return_features: bool = False):
        """Logits; with `return_features`, (logits, the last hidden layer [B / pack, F]) for heads."""
        if tuple(x.shape[1:]) != tuple(self.input_shape):
            raise ValueError(f'MLPDiscriminator expects inputs [batch, *{tuple(self.input_shape)}], got {x.shape}')
        h = minibatch.pack(x, self.pack)
        if not isinstance(self.maxout, int) or self.maxout < 1:
            raise ValueError(f'MLPDiscriminator.maxout must be a positive integer, got {self.maxout!r}')
        for width in self.hidden:
            if self.maxout == 1:
                h = nn.leaky_relu(nn.Dense(width, dtype=self.dtype)(h), 0.2)
            else:
                h = nn.Dense(width * self.maxout, dtype=self.dtype)(h)
                h = h.reshape((*h.shape[:-1], width, self.maxout)).max(axis=-1)
        layer = minibatch.batch_features(self.batch_features, num_kernels=self.minibatch_kernels,
                                         kernel_dim=self.minibatch_kernel_dim)
        if layer is not None:
            h = layer(h)
        logits = at_least_float32(nn.Dense(self.outputs, dtype=self.dtype)(h))
        logits = logits[:, 0] if self.outputs == 1 else logits
        return (logits, at_least_float32(h)) if return_features else logits
