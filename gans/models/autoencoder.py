"""The autoencoder discriminator of BEGAN (Berthelot et al. 2017), as an MLP.

D(x) is the per-example L1 reconstruction loss mean_i |x_i - Dec(Enc(x))_i| (the paper's
L(v) = |v - D(v)|^eta with eta = 1, averaged over pixels or coordinates): low for what the
autoencoder has learnt to reconstruct. An MLP is enough for 2-D points and flattened digits;
ELU units as in the paper's convolutional D.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


class MLPAutoencoder(nn.Module):
    input_shape: Sequence[int]
    hidden: Sequence[int] = (256, 256)
    code_dim: int = 32  # the paper's embedding size h

    def setup(self):
        self.encoder = [nn.Dense(width) for width in self.hidden] + [nn.Dense(self.code_dim)]
        self.decoder = [nn.Dense(width) for width in reversed(self.hidden)] + [
            nn.Dense(math.prod(self.input_shape))]

    def reconstruct(self, x: jax.Array) -> jax.Array:
        """Dec(Enc(x)), shaped like x."""
        if tuple(x.shape[1:]) != tuple(self.input_shape):
            raise ValueError(f'MLPAutoencoder expects inputs [batch, *{tuple(self.input_shape)}], got {x.shape}')
        h = x.reshape((x.shape[0], -1))
        for layer in self.encoder[:-1]:
            h = nn.elu(layer(h))
        h = self.encoder[-1](h)  # linear code, as in the paper
        for layer in self.decoder[:-1]:
            h = nn.elu(layer(h))
        return self.decoder[-1](h).reshape(x.shape)

    def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
        """Per-example L1 reconstruction loss [batch]: BEGAN's energy, used where logits go."""
        error = jnp.abs(x - self.reconstruct(x))
        return error.reshape((x.shape[0], -1)).mean(axis=1)
