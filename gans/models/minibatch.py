"""Discriminator layers that look across the batch, so a collapsed generator is easy to spot.

- `MinibatchDiscrimination` (Salimans et al. 2016): each example's features f_i [A] are
  projected by a learned tensor T [A, K*C] to K rows M_i,b [C]; the layer appends, for every
  kernel b, o_b(x_i) = sum_{j != i} exp(-||M_i,b - M_j,b||_1). Near-identical examples (a
  collapsed batch) give o_b close to B - 1; well-spread ones give values near 0. The paper's
  sum also counts j = i, which only adds the constant 1.
- `MinibatchStdDev` (Karras et al. 2018): the standard deviation of every feature over a
  group of examples, averaged into one scalar per group and appended as a constant feature
  map (one channel). Zero-ish for a collapsed batch.

Both take any [B, ...] activations: minibatch discrimination flattens them and returns
[B, F + K]; the std layer keeps the shape and appends one channel on the last axis, so it
fits between a convolutional stack's last feature map and its output layer.

Real and fake batches go through D separately (`gans.games.gan`), so these statistics are
always within one kind of batch, as in both papers.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

BATCH_FEATURES = ('none', 'minibatch', 'stddev')


class MinibatchDiscrimination(nn.Module):
    num_kernels: int = 32  # K
    kernel_dim: int = 8  # C
    # Salimans et al. initialise T small; a large T makes every L1 distance huge and o = 0.
    kernel_init: nn.initializers.Initializer = nn.initializers.normal(0.05)

    @nn.compact
    def __call__(self, h: jax.Array) -> jax.Array:
        h = h.reshape((h.shape[0], -1))
        kernel = self.param('kernel', self.kernel_init, (h.shape[1], self.num_kernels * self.kernel_dim))
        m = (h @ kernel).reshape((h.shape[0], self.num_kernels, self.kernel_dim))
        l1 = jnp.abs(m[:, None] - m[None, :]).sum(axis=-1)  # [B, B, K]
        # Subtracting exp(0) = 1 removes each example's comparison with itself.
        o = jnp.exp(-l1).sum(axis=1) - 1.0
        return jnp.concatenate([h, o], axis=-1)


class MinibatchStdDev(nn.Module):
    # Examples per group; 0 puts the whole batch in one group. Groups are strided, as in
    # Karras et al.: with M = B / G, examples m, m + M, m + 2M, ... share a group.
    group_size: int = 0
    epsilon: float = 1e-8

    @nn.compact
    def __call__(self, h: jax.Array) -> jax.Array:
        batch = h.shape[0]
        group = batch if self.group_size == 0 else min(self.group_size, batch)
        if batch % group:
            raise ValueError(f'MinibatchStdDev: batch of {batch} does not split into groups of {group}')
        grouped = h.reshape((group, batch // group, *h.shape[1:]))
        std = jnp.sqrt(jnp.var(grouped, axis=0) + self.epsilon)  # [M, ...]
        stat = std.reshape((std.shape[0], -1)).mean(axis=1)  # [M]
        stat = jnp.tile(stat, group)  # example b gets its group's value, b % M
        feature = jnp.broadcast_to(stat.reshape((batch,) + (1,) * (h.ndim - 1)), (*h.shape[:-1], 1))
        return jnp.concatenate([h, feature.astype(h.dtype)], axis=-1)


def batch_features(kind: str, *, num_kernels: int = 32, kernel_dim: int = 8,
                   group_size: int = 0) -> nn.Module | None:
    """The layer named by a config's `d_batch_features` ('none' gives None)."""
    if kind == 'none':
        return None
    if kind == 'minibatch':
        return MinibatchDiscrimination(num_kernels=num_kernels, kernel_dim=kernel_dim, name='minibatch')
    if kind == 'stddev':
        return MinibatchStdDev(group_size=group_size, name='minibatch_stddev')
    raise ValueError(f'unknown d_batch_features {kind!r}; valid: {list(BATCH_FEATURES)}')


def pack(x: jax.Array, m: int) -> jax.Array:
    """PacGAN packing: [B, ...] -> [B / m, m * F], m consecutive examples judged as one."""
    if m < 1:
        raise ValueError(f'pack must be a positive integer, got {m}')
    if x.shape[0] % m:
        raise ValueError(f'a batch of {x.shape[0]} examples does not split into packs of {m}')
    return x.reshape((x.shape[0] // m, -1))
