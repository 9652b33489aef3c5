"""Networks of the VAE family: encoders to (mean, log-variance), decoders, and the VAE that holds both.

The convolutional pair mirrors DCGAN's shapes on the fast layers of `gans.models.ops.convolution`:
the encoder halves the resolution with stride-2 4x4 convolutions down to 4x4 (channels
doubling), the decoder projects z to a 4x4 map and doubles it back up to the image. Neither
uses batch norm, so an image's posterior and reconstruction do not depend on the rest of its
batch, and the held-out ELBO is the same in training and inference mode. The MLP pair is the
same contract for any example shape.

Conditional versions (the CVAE, Sohn et al. 2015) take integer labels: one-hot labels join the
encoder's features before its two linear heads, and join z at the decoder's input.

`VAE` is the generator player of the games in `gans.games.vae`: calling it DECODES latents
(prior samples) to mean images in [-1, 1], so sampling, sample grids and `gans sample` work as
for any generator; `encode`, `decode` (the raw decoder output: Bernoulli logits or the Gaussian
mean), `reconstruct` and `log_scale` are methods for `module.apply(..., method=...)`. Its
parameters are {'encoder': ..., 'decoder': ...} (plus 'log_scale' for a learned Gaussian scale),
so a game can treat the two parts separately.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gans import elbo
from gans.models.ops.convolution import Conv2D, ConvTranspose2D

SUPPORTED_IMAGE_SIZES = (16, 32, 64)


def _num_stages(image_size: int, module: str) -> int:
    if image_size not in SUPPORTED_IMAGE_SIZES:
        raise ValueError(f'{module}.image_size must be one of {SUPPORTED_IMAGE_SIZES}, got {image_size}')
    return int(math.log2(image_size // 4))


def join_labels(h: jax.Array, labels: jax.Array | None, num_classes: int, module: str) -> jax.Array:
    """[N, F] features -> [N, F + num_classes] with the one-hot labels; checks labels fit the module."""
    if num_classes == 0:
        if labels is not None:
            raise ValueError(f'{module} is unconditional (num_classes=0) but was given labels')
        return h
    if labels is None:
        raise ValueError(f'{module} is conditional on {num_classes} classes and needs labels')
    if labels.shape != (h.shape[0],):
        raise ValueError(f'{module} expects labels of shape [{h.shape[0]}], got {labels.shape}')
    return jnp.concatenate([h, jax.nn.one_hot(labels, num_classes, dtype=h.dtype)], axis=-1)


class _Heads(nn.Module):
    """Features -> (mean, log_var), each [N, latent_dim]."""
    latent_dim: int

    @nn.compact
    def __call__(self, h: jax.Array) -> tuple[jax.Array, jax.Array]:
        return nn.Dense(self.latent_dim, name='mean')(h), nn.Dense(self.latent_dim, name='log_var')(h)


class ConvEncoder(nn.Module):
    """Images [N, S, S, C] (and labels [N] when conditional) -> (mean, log_var) [N, latent_dim]."""
    latent_dim: int
    image_size: int = 32
    channels: int = 1
    width: int = 32  # channels of the first convolution; doubles at each halving
    num_classes: int = 0  # > 0: conditional on labels
    conv: Any = Conv2D  # a layer class with Conv2D's constructor (gans.models.ops.layers)

    @nn.compact
    def __call__(self, x: jax.Array, labels: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        stages = _num_stages(self.image_size, 'ConvEncoder')
        expected = (self.image_size, self.image_size, self.channels)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f'ConvEncoder expects images [N, {", ".join(map(str, expected))}], got {x.shape}')
        h = x
        for stage in range(stages):
            h = nn.leaky_relu(self.conv(self.width * 2 ** stage, 4, strides=2, padding=1, name=f'down{stage}')(h), 0.2)
        h = join_labels(h.reshape(h.shape[0], -1), labels, self.num_classes, 'ConvEncoder')
        return _Heads(self.latent_dim, name='heads')(h)


class ConvDecoder(nn.Module):
    """z [N, latent] (and labels [N] when conditional) -> [N, S, S, C] raw outputs (logits or means)."""
    image_size: int = 32
    channels: int = 1
    width: int = 32  # channels of the last hidden map; doubles at each halving towards z
    num_classes: int = 0
    conv_transpose: Any = ConvTranspose2D  # a layer class with ConvTranspose2D's constructor

    @nn.compact
    def __call__(self, z: jax.Array, labels: jax.Array | None = None) -> jax.Array:
        stages = _num_stages(self.image_size, 'ConvDecoder')
        if z.ndim != 2:
            raise ValueError(f'ConvDecoder expects z of shape [N, latent], got {z.shape}')
        h = join_labels(z, labels, self.num_classes, 'ConvDecoder')
        features = self.width * 2 ** (stages - 1)
        # A 4x4 transposed convolution of a 1x1 input: z projected to the first 4x4 map.
        h = nn.relu(self.conv_transpose(features, 4, strides=1, padding=0, name='project')(h[:, None, None, :]))
        for stage in range(1, stages):
            features //= 2
            h = nn.relu(self.conv_transpose(features, 4, strides=2, padding=1, name=f'up{stage}')(h))
        return self.conv_transpose(self.channels, 4, strides=2, padding=1, name='to_image')(h)


class MLPEncoder(nn.Module):
    """Examples [N, *input_shape] (and labels) -> (mean, log_var) [N, latent_dim]."""
    input_shape: Sequence[int]
    latent_dim: int
    hidden: Sequence[int] = (256, 256)
    num_classes: int = 0

    @nn.compact
    def __call__(self, x: jax.Array, labels: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        if tuple(x.shape[1:]) != tuple(self.input_shape):
            raise ValueError(f'MLPEncoder expects inputs [N, *{tuple(self.input_shape)}], got {x.shape}')
        h = join_labels(x.reshape(x.shape[0], -1), labels, self.num_classes, 'MLPEncoder')
        for width in self.hidden:
            h = nn.relu(nn.Dense(width)(h))
        return _Heads(self.latent_dim, name='heads')(h)


class MLPDecoder(nn.Module):
    """z [N, latent] (and labels) -> [N, *output_shape] raw outputs."""
    output_shape: Sequence[int]
    hidden: Sequence[int] = (256, 256)
    num_classes: int = 0

    @nn.compact
    def __call__(self, z: jax.Array, labels: jax.Array | None = None) -> jax.Array:
        if z.ndim != 2:
            raise ValueError(f'MLPDecoder expects z of shape [N, latent], got {z.shape}')
        h = join_labels(z, labels, self.num_classes, 'MLPDecoder')
        for width in reversed(self.hidden):
            h = nn.relu(nn.Dense(width)(h))
        return nn.Dense(math.prod(self.output_shape))(h).reshape(z.shape[0], *self.output_shape)


class VAE(nn.Module):
    """Encoder + decoder; `__call__(z[, labels])` decodes latents to mean images in [-1, 1]."""
    encoder: nn.Module
    decoder: nn.Module
    data_shape: Sequence[int]  # one example's shape, for initialising the encoder
    decoder_kind: str = 'bernoulli'  # one of gans.elbo.DECODERS
    # Gaussian decoder's standard deviation in the data's [-1, 1] units; None: learned (one for all pixels).
    gaussian_scale: float | None = None

    def setup(self):
        elbo.check_decoder(self.decoder_kind)
        if self.gaussian_scale is not None and self.gaussian_scale <= 0:
            raise ValueError(f'vae_gaussian_scale must be positive or None (learned), got {self.gaussian_scale}')
        if self.decoder_kind == 'gaussian' and self.gaussian_scale is None:
            self.learned_log_scale = self.param('log_scale', nn.initializers.zeros_init(), ())

    def encode(self, x: jax.Array, labels: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        return self.encoder(x, labels)

    def decode(self, z: jax.Array, labels: jax.Array | None = None) -> jax.Array:
        """The decoder's raw output: Bernoulli logits, or the Gaussian mean."""
        return self.decoder(z, labels)

    def log_scale(self) -> jax.Array:
        """log sigma of the Gaussian decoder (0 for the Bernoulli one, where it is unused)."""
        if self.decoder_kind != 'gaussian':
            return jnp.zeros(())
        if self.gaussian_scale is None:
            return self.learned_log_scale
        return jnp.asarray(math.log(self.gaussian_scale), jnp.float32)

    def mean_image(self, output: jax.Array) -> jax.Array:
        return elbo.decoder_mean(self.decoder_kind, output)

    def reconstruct(self, x: jax.Array, labels: jax.Array | None = None) -> jax.Array:
        """The decoder's mean image at the posterior mean: the deterministic reconstruction of x."""
        mean, _ = self.encode(x, labels)
        return self.mean_image(self.decode(mean, labels))

    def __call__(self, z: jax.Array, labels: jax.Array | None = None, train: bool = True) -> jax.Array:
        del train  # no batch norm or dropout
        if self.is_initializing():
            # Flax creates parameters only for the submodules a call reaches: reach the encoder too.
            self.encode(jnp.zeros((z.shape[0], *self.data_shape), z.dtype), labels)
            self.log_scale()
        return self.mean_image(self.decode(z, labels))


class IdleDiscriminator(nn.Module):
    """The discriminator slot of a game without a discriminator (the plain VAE and CVAE): it has no
    parameters and outputs zeros, so the engine's discriminator update is a no-op."""

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
        del train
        return jnp.zeros((jax.tree.leaves(x)[0].shape[0],))
