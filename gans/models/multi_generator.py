"""k MLP generators that share their first layers, for MAD-GAN (Ghosh et al. 2018).

The first `shared_layers` hidden layers are one set of weights used by every generator; the
remaining hidden layers and the output layer exist once per generator, stored stacked
([k, in, out] kernels). Example b of a latent batch goes to generator b mod k, so any batch
(a training batch, a sample grid, `gans sample`) is an even mixture of the k generators and
the game knows each fake's generator from its position alone.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


class StackedDense(nn.Module):
    """k independent dense layers applied to k stacked inputs: [k, B, in] -> [k, B, out]."""
    num: int
    features: int

    @nn.compact
    def __call__(self, h: jax.Array) -> jax.Array:
        init = nn.initializers.lecun_normal(batch_axis=(0,))
        kernel = self.param('kernel', init, (self.num, h.shape[-1], self.features))
        bias = self.param('bias', nn.initializers.zeros, (self.num, self.features))
        return jnp.einsum('kbi,kio->kbo', h, kernel) + bias[:, None, :]


def generator_index(batch: int, num_generators: int) -> jax.Array:
    """Which generator made each example of a batch: b mod k."""
    return jnp.arange(batch) % num_generators


class MultiGenerator(nn.Module):
    output_shape: Sequence[int]
    num_generators: int = 4
    hidden: Sequence[int] = (256, 256)
    shared_layers: int = 2  # hidden layers shared by all generators; the output layer never is
    tanh_output: bool = True

    @nn.compact
    def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
        if z.ndim != 2:
            raise ValueError(f'MultiGenerator expects latents of shape [batch, dim], got {z.shape}')
        if not 0 <= self.shared_layers <= len(self.hidden):
            raise ValueError(f'madgan_shared_layers must be in [0, {len(self.hidden)}] (the hidden layers), '
                             f'got {self.shared_layers}')
        if self.num_generators < 1:
            raise ValueError(f'madgan_generators must be a positive integer, got {self.num_generators}')
        h = z
        for width in self.hidden[:self.shared_layers]:
            h = nn.relu(nn.Dense(width)(h))
        # Every generator runs on the whole batch; each example then keeps its own generator's
        # output. k times the work of the unshared layers, but no gathers of weights.
        h = jnp.broadcast_to(h, (self.num_generators, *h.shape))
        for width in self.hidden[self.shared_layers:]:
            h = nn.relu(StackedDense(self.num_generators, width)(h))
        out = StackedDense(self.num_generators, math.prod(self.output_shape))(h)  # [k, B, F]
        out = out[generator_index(z.shape[0], self.num_generators), jnp.arange(z.shape[0])]
        if self.tanh_output:
            out = jnp.tanh(out)
        return out.reshape((z.shape[0], *self.output_shape))
