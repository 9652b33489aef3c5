"""DCGAN generator and discriminator (Radford, Metz & Chintala 2015).

Paper guidelines kept: strided convolutions instead of pooling, batch norm in
both networks except the discriminator's first layer and the generator's
output layer, ReLU + tanh output in the generator, LeakyReLU(0.2) in the
discriminator, no fully connected hidden layers (z is projected to the first
4x4 map by a 4x4 transposed convolution of a 1x1 input), weights ~ N(0, 0.02).

Both networks have log2(image_size / 4) stride-2 stages between 4x4 and the
image; channels double at each halving of resolution.

`dtype` is the computation dtype (`config.compute_dtype`): with bfloat16 the convolutions
and activations run in bfloat16 while parameters and batch-norm statistics stay float32, and
the outputs (images, logits, features) come back float32 so that losses are float32.
The default, None, computes in the input's dtype (float32; float64 in the float64 tests).
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gans.models import minibatch
from gans.models.ops.convolution import Conv2D, ConvTranspose2D, at_least_float32

ModuleDef = Any

SUPPORTED_IMAGE_SIZES = (16, 32, 64)

# DCGAN paper: all weights from a zero-centred normal with std 0.02.
_weight_init = nn.initializers.normal(stddev=0.02)


def _batch_norm_scale_init(key: jax.Array, shape, dtype=jnp.float32) -> jax.Array:
    return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


def _batch_norm(train: bool, name: str, dtype: Any) -> nn.BatchNorm:
    # Flax momentum 0.9 keeps 90% of the running average per step; it is
    # PyTorch's BatchNorm2d(momentum=0.1), the DCGAN reference setting.
    # Flax computes the moments in at least float32 and keeps them (and scale, bias) float32;
    # `dtype` is only the output's.
    return nn.BatchNorm(
        use_running_average=not train,
        momentum=0.9,
        epsilon=1e-5,
        scale_init=_batch_norm_scale_init,
        dtype=dtype,
        name=name,
    )


def _num_stages(image_size: int, module: str) -> int:
    if image_size not in SUPPORTED_IMAGE_SIZES:
        raise ValueError(
            f'{module}.image_size must be one of {SUPPORTED_IMAGE_SIZES}, got {image_size}'
        )
    return int(math.log2(image_size // 4))


def _check_positive(module: str, **fields: int) -> None:
    for name, value in fields.items():
        if value < 1:
            raise ValueError(f'{module}.{name} must be a positive int, got {value}')


class DCGANGenerator(nn.Module):
    """z [N, latent] -> images [N, image_size, image_size, channels] in (-1, 1)."""

    image_size: int = 32
    channels: int = 1
    width: int = 64  # channels of the last hidden map; doubles at each halving
    dtype: Any = None  # computation dtype (None: the input's); parameters are float32
    batch_norm: bool = True  # False: biases instead (BEGAN's generator has no batch norm)
    # Layer class with ConvTranspose2D's constructor (gans.models.ops.layers picks one per platform).
    conv_transpose: ModuleDef = ConvTranspose2D

    @nn.compact
    def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
        stages = _num_stages(self.image_size, 'DCGANGenerator')
        _check_positive('DCGANGenerator', channels=self.channels, width=self.width)
        if z.ndim != 2:
            raise ValueError(f'DCGANGenerator expects z of shape [N, latent], got {z.shape}')
        features = self.width * 2 ** (stages - 1)
        x = z[:, None, None, :]
        x = self.conv_transpose(features, 4, strides=1, padding=0, use_bias=not self.batch_norm,
                                kernel_init=_weight_init, dtype=self.dtype, name='project')(x)
        x = nn.relu(self._maybe_normalize(x, train, 'project_bn'))
        for stage in range(1, stages):
            features //= 2
            x = self.conv_transpose(features, 4, strides=2, padding=1, use_bias=not self.batch_norm,
                                    kernel_init=_weight_init, dtype=self.dtype, name=f'up{stage}')(x)
            x = nn.relu(self._maybe_normalize(x, train, f'up{stage}_bn'))
        x = self.conv_transpose(self.channels, 4, strides=2, padding=1,
                                kernel_init=_weight_init, dtype=self.dtype, name='to_image')(x)
        return at_least_float32(jnp.tanh(x))

    def _maybe_normalize(self, x: jax.Array, train: bool, name: str) -> jax.Array:
        return _batch_norm(train, name, self.dtype)(x) if self.batch_norm else x


class DCGANDiscriminator(nn.Module):
    """Images [N, image_size, image_size, channels] -> real/fake logits [N / pack].

    Mode-collapse remedies (off by default, and then the parameters and outputs are exactly
    the plain DCGAN's):
    - `pack` = m (PacGAN): m consecutive images are stacked along channels and judged as one,
      so the first convolution sees m * channels and N images give N / m logits.
    - `batch_features` ('minibatch' | 'stddev', `gans.models.minibatch`): the last 4x4 map is
      flattened, the layer appends its across-the-batch features, and a Dense layer replaces
      the 4x4 output convolution (the same map on the trunk, plus weights for the extras).
    `batch_norm=False` drops batch norm from the trunk (its convolutions then get biases): a
    per-example gradient penalty (WGAN-GP) assumes D judges each example on its own.
    """

    image_size: int = 32
    channels: int = 1
    width: int = 64  # channels of the first conv; doubles at each halving
    dtype: Any = None  # computation dtype (None: the input's); parameters are float32
    pack: int = 1
    batch_features: str = 'none'  # one of minibatch.BATCH_FEATURES
    minibatch_kernels: int = 32
    minibatch_kernel_dim: int = 8
    batch_norm: bool = True
    # Layer class with Conv2D's constructor (gans.models.ops.layers picks one per platform).
    conv: ModuleDef = Conv2D

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True, return_features: bool = False):
        """Logits [N / pack]; with `return_features`, (logits, the last 4x4 map flattened to [N / pack, F]).

        The features are the trunk that conditional and auxiliary heads share (projection
        discriminator, ACGAN's classifier, InfoGAN's Q, VAE-GAN's feature-space loss); they
        do not include the batch features.
        """
        stages = _num_stages(self.image_size, 'DCGANDiscriminator')
        _check_positive('DCGANDiscriminator', channels=self.channels, width=self.width)
        expected = (self.image_size, self.image_size, self.channels)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"DCGANDiscriminator expects images of shape [N, {', '.join(map(str, expected))}], "
                f'got {tuple(x.shape)}'
            )
        if self.pack != 1:
            x = pack_channels(x, self.pack)
        features = self.width
        for stage in range(stages):
            normalise = self.batch_norm and stage > 0  # the paper keeps batch norm off the first layer
            x = self.conv(features, 4, strides=2, padding=1, use_bias=not normalise,
                          kernel_init=_weight_init, dtype=self.dtype, name=f'down{stage}')(x)
            if normalise:
                x = _batch_norm(train, f'down{stage}_bn', self.dtype)(x)
            x = nn.leaky_relu(x, 0.2)
            features *= 2
        trunk = x.reshape(x.shape[0], -1)
        layer = minibatch.batch_features(self.batch_features, num_kernels=self.minibatch_kernels,
                                         kernel_dim=self.minibatch_kernel_dim)
        if layer is None:
            logits = self.conv(1, 4, strides=1, padding=0, kernel_init=_weight_init, dtype=self.dtype,
                               name='to_logit')(x)
        else:
            logits = nn.Dense(1, kernel_init=_weight_init, dtype=self.dtype, name='to_logit')(layer(trunk))
        # Losses are taken in float32 whatever the computation dtype.
        logits = at_least_float32(logits.reshape(logits.shape[0]))
        if return_features:
            return logits, at_least_float32(trunk)
        return logits


def pack_channels(x: jax.Array, m: int) -> jax.Array:
    """PacGAN packing of images: [N, H, W, C] -> [N / m, H, W, m * C], images m*i .. m*i + m - 1
    stacked in order along channels (the same grouping as `minibatch.pack` for vectors)."""
    if m < 1:
        raise ValueError(f'pack must be a positive integer, got {m}')
    n, h, w, c = x.shape
    if n % m:
        raise ValueError(f'a batch of {n} examples does not split into packs of {m}')
    return x.reshape(n // m, m, h, w, c).transpose(0, 2, 3, 1, 4).reshape(n // m, h, w, m * c)
