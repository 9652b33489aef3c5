"""The autoencoder discriminator of BEGAN (Berthelot et al. 2017): an MLP or a conv net.

D(x) is the per-example L1 reconstruction loss mean_i |x_i - Dec(Enc(x))_i| (the paper's
L(v) = |v - D(v)|^eta with eta = 1, averaged over pixels or coordinates): low for what the
autoencoder has learnt to reconstruct. The MLP suits 2-D points; images want the convolutional
one (the paper's D: ELU units, strided convolutions down to 8x8, a linear code of size h, and
a decoder that mirrors the encoder). On digits the MLP's G collapsed to one digit.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gans.models.ops.convolution import Conv2D, ConvTranspose2D


def reconstruction_energy(x: jax.Array, reconstruction: jax.Array) -> jax.Array:
    """Per-example mean absolute error [batch]: BEGAN's energy, used where logits go."""
    return jnp.abs(x - reconstruction).reshape((x.shape[0], -1)).mean(axis=1)


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
        return reconstruction_energy(x, self.reconstruct(x))


class ConvAutoencoder(nn.Module):
    """Images [B, H, W, C] -> stride-2 4x4 convs (width, 2 width, ...) down to 8x8 -> linear code
    of `code_dim` -> the mirror image back up (transposed convs) -> a linear 3x3 conv to C."""
    image_shape: Sequence[int]
    width: int = 32
    code_dim: int = 64
    # Layer classes with Conv2D's / ConvTranspose2D's constructors (gans.models.ops.layers).
    conv: Any = Conv2D
    conv_transpose: Any = ConvTranspose2D

    def setup(self):
        height, _, channels = self.image_shape
        if height < 8 or height & (height - 1):
            raise ValueError(f'ConvAutoencoder needs a power-of-two image size >= 8, got {tuple(self.image_shape)}')
        stages = int(math.log2(height // 8))
        widths = [self.width * 2 ** i for i in range(stages)]
        self.down = [self.conv(w, 4, 2, 1) for w in widths]
        self.to_code = nn.Dense(self.code_dim)
        self.from_code = nn.Dense(8 * 8 * (widths[-1] if widths else self.width))
        # Back up to the image, each map as wide as the encoder's at that resolution.
        self.up = [self.conv_transpose(w, 4, 2, 1) for w in reversed([self.width, *widths][:stages])]
        self.to_image = self.conv(channels, 3, 1, 1)

    def reconstruct(self, x: jax.Array) -> jax.Array:
        if tuple(x.shape[1:]) != tuple(self.image_shape):
            raise ValueError(f'ConvAutoencoder expects images [batch, *{tuple(self.image_shape)}], got {x.shape}')
        h = x
        for layer in self.down:
            h = nn.elu(layer(h))
        code = self.to_code(h.reshape((x.shape[0], -1)))  # linear, as in the paper
        h = nn.elu(self.from_code(code)).reshape((x.shape[0], 8, 8, -1))
        for layer in self.up:
            h = nn.elu(layer(h))
        return self.to_image(h)

    def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
        return reconstruction_energy(x, self.reconstruct(x))
