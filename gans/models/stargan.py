"""StarGAN's networks (Choi et al. 2018): one generator for every domain, a discriminator with an
adversarial and a domain-classification head. NHWC.

G(x, c): the target domain's one-hot c [N, K] is tiled to [N, H, W, K] and joined to the image's
channels; a ResNet generator (`gans.models.resnet`: two stride-2 downsamplings, residual blocks,
two upsamplings, instance norm; the paper's has 6 blocks) maps that to an image of x's channels.
Its convolutions zero-pad, as the paper's: the code is the same at every pixel, so after the
first convolution instance norm would subtract all of it but for the border, where zero padding
makes its response vary (reflection padding would erase the code entirely).

D(x) = {'adversarial': [N, h, w], 'classes': [N, K]}: `num_layers` 4x4 stride-2 convolutions,
LeakyReLU(0.01), no normalisation (the paper's: batch statistics would break the gradient
penalty's per-example gradients), widths doubling from `width`; then two heads on the last
feature map: a 3x3 stride-1 convolution to one logit per patch (D_src) and a convolution whose
kernel spans the whole map to K domain logits (D_cls). The paper's D at 128 px has 6 layers
(2x2 maps); at 32 px, 4 layers give the same 2x2.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gans.models.ops.convolution import Conv2D
from gans.models.resnet import ResNetGenerator
from gans.models.unet import ModuleDef, at_least_float32, check_positive, weight_init


def tile_domains(image: jax.Array, target: jax.Array) -> jax.Array:
    """[N, H, W, C] and one-hot [N, K] -> [N, H, W, C + K], the domain code at every pixel."""
    n, h, w, _ = image.shape
    code = jnp.broadcast_to(target[:, None, None, :].astype(image.dtype), (n, h, w, target.shape[-1]))
    return jnp.concatenate([image, code], axis=-1)


class StarGenerator(nn.Module):
    """(x [N, H, W, C], target one-hot [N, K]) -> G(x, target) [N, H, W, C] in (-1, 1).

    Fields: `network`, the image-to-image network run on the tiled input (a ResNetGenerator with
    `channels` = C).
    """
    network: nn.Module

    def __call__(self, x: jax.Array, target: jax.Array, train: bool = True) -> jax.Array:
        if target.ndim != 2 or target.shape[0] != x.shape[0]:
            raise ValueError(f'StarGenerator takes target domains one-hot [N, K] for N = {x.shape[0]} images, got '
                             f'{tuple(target.shape)}')
        return self.network(tile_domains(x, target), train=train)


class StarDiscriminator(nn.Module):
    """x [N, H, W, C] -> {'adversarial': patch logits [N, h, w], 'classes': domain logits [N, K]}.

    Fields:
      num_domains: K.
      num_layers: stride-2 4x4 convolutions (h = H / 2^num_layers).
      width: channels of the first; they double per layer up to 32 x width.
      dtype: computation dtype (None: the input's).
      conv: a layer class with Conv2D's constructor.
    """
    num_domains: int
    num_layers: int = 4
    width: int = 64
    dtype: Any = None
    conv: ModuleDef = Conv2D

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> dict[str, jax.Array]:
        del train  # no normalisation: the same in training and inference
        check_positive('StarDiscriminator', num_domains=self.num_domains, num_layers=self.num_layers,
                       width=self.width)
        factor = 2 ** self.num_layers
        if x.ndim != 4 or x.shape[1] % factor or x.shape[2] % factor:
            raise ValueError(f'StarDiscriminator with num_layers={self.num_layers} expects images [N, H, W, C] with '
                             f'H and W multiples of {factor}, got {tuple(x.shape)}')
        h = x
        for l in range(self.num_layers):
            h = self.conv(self.width * min(2 ** l, 32), kernel_size=4, strides=2, padding=1, use_bias=True,
                          kernel_init=weight_init, dtype=self.dtype, name=f'conv{l}')(h)
            h = nn.leaky_relu(h, 0.01)
        adversarial = self.conv(1, kernel_size=3, strides=1, padding=1, use_bias=False, kernel_init=weight_init,
                                dtype=self.dtype, name='to_adversarial')(h)
        classes = self.conv(self.num_domains, kernel_size=h.shape[1:3], strides=1, padding=0, use_bias=False,
                            kernel_init=weight_init, dtype=self.dtype, name='to_classes')(h)
        return {'adversarial': at_least_float32(adversarial[..., 0]),
                'classes': at_least_float32(classes.reshape(classes.shape[0], -1))}


def star_networks(channels: int, num_domains: int, *, g_width: int, num_blocks: int, g_norm: str, d_width: int,
                  d_layers: int, dtype: Any, conv: ModuleDef, conv_transpose: ModuleDef) -> tuple[nn.Module, nn.Module]:
    """(StarGenerator, StarDiscriminator) for `channels`-channel images in `num_domains` domains."""
    network = ResNetGenerator(channels=channels, width=g_width, num_blocks=num_blocks, norm=g_norm, dtype=dtype,
                              conv=conv, conv_transpose=conv_transpose, padding='zero')
    return (StarGenerator(network),
            StarDiscriminator(num_domains=num_domains, num_layers=d_layers, width=d_width, dtype=dtype, conv=conv))
