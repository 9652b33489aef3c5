"""DCGAN generator and discriminator (Radford, Metz & Chintala 2015).

Paper guidelines kept: strided convolutions instead of pooling, batch norm in
both networks except the discriminator's first layer and the generator's
output layer, ReLU + tanh output in the generator, LeakyReLU(0.2) in the
discriminator, no fully connected hidden layers (z is projected to the first
4x4 map by a 4x4 transposed convolution of a 1x1 input), weights ~ N(0, 0.02).

Both networks have log2(image_size / 4) stride-2 stages between 4x4 and the
image; channels double at each halving of resolution.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from gans.models.layers import Conv2D, ConvTranspose2D

SUPPORTED_IMAGE_SIZES = (16, 32, 64)

# DCGAN paper: all weights from a zero-centred normal with std 0.02.
_weight_init = nn.initializers.normal(stddev=0.02)


def _batch_norm_scale_init(key: jax.Array, shape, dtype=jnp.float32) -> jax.Array:
    return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


def _batch_norm(train: bool, name: str) -> nn.BatchNorm:
    # Flax momentum 0.9 keeps 90% of the running average per step; it is
    # PyTorch's BatchNorm2d(momentum=0.1), the DCGAN reference setting.
    return nn.BatchNorm(
        use_running_average=not train,
        momentum=0.9,
        epsilon=1e-5,
        scale_init=_batch_norm_scale_init,
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

    @nn.compact
    def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
        stages = _num_stages(self.image_size, 'DCGANGenerator')
        _check_positive('DCGANGenerator', channels=self.channels, width=self.width)
        if z.ndim != 2:
            raise ValueError(f'DCGANGenerator expects z of shape [N, latent], got {z.shape}')
        features = self.width * 2 ** (stages - 1)
        x = z[:, None, None, :]
        x = ConvTranspose2D(features, 4, strides=1, padding=0, use_bias=False,
                            kernel_init=_weight_init, name='project')(x)
        x = nn.relu(_batch_norm(train, 'project_bn')(x))
        for stage in range(1, stages):
            features //= 2
            x = ConvTranspose2D(features, 4, strides=2, padding=1, use_bias=False,
                                kernel_init=_weight_init, name=f'up{stage}')(x)
            x = nn.relu(_batch_norm(train, f'up{stage}_bn')(x))
        x = ConvTranspose2D(self.channels, 4, strides=2, padding=1,
                            kernel_init=_weight_init, name='to_image')(x)
        return jnp.tanh(x)


class DCGANDiscriminator(nn.Module):
    """Images [N, image_size, image_size, channels] -> real/fake logits [N]."""

    image_size: int = 32
    channels: int = 1
    width: int = 64  # channels of the first conv; doubles at each halving

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True, return_features: bool = False):
        """Logits [N]; with `return_features`, (logits, the last 4x4 map flattened to [N, F]).

        The features are the trunk that conditional and auxiliary heads share (projection
        discriminator, ACGAN's classifier, InfoGAN's Q, VAE-GAN's feature-space loss).
        """
        stages = _num_stages(self.image_size, 'DCGANDiscriminator')
        _check_positive('DCGANDiscriminator', channels=self.channels, width=self.width)
        expected = (self.image_size, self.image_size, self.channels)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"DCGANDiscriminator expects images of shape [N, {', '.join(map(str, expected))}], "
                f'got {tuple(x.shape)}'
            )
        features = self.width
        for stage in range(stages):
            x = Conv2D(features, 4, strides=2, padding=1, use_bias=stage == 0,
                       kernel_init=_weight_init, name=f'down{stage}')(x)
            if stage > 0:  # the paper keeps batch norm off the first layer
                x = _batch_norm(train, f'down{stage}_bn')(x)
            x = nn.leaky_relu(x, 0.2)
            features *= 2
        features = x
        logits = Conv2D(1, 4, strides=1, padding=0, kernel_init=_weight_init, name='to_logit')(x)
        logits = logits.reshape(logits.shape[0])
        return (logits, features.reshape(features.shape[0], -1)) if return_features else logits
