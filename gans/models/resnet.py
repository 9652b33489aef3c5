"""CycleGAN's networks (Zhu et al. 2017): the ResNet generator (Johnson et al. 2016's design) and
the two-domain pairs of generators and of PatchGAN discriminators, NHWC.

The generator, with c7s1-k a 7x7 conv (stride 1, reflection padding 3) + norm + ReLU, dk a 3x3
stride-2 conv + norm + ReLU, Rk a residual block of two reflection-padded 3x3 convs (norm, ReLU
between, norm after) added to its input, and uk a stride-2 transposed conv + norm + ReLU:

    c7s1-64, d128, d256, R256 x num_blocks, u128, u64, c7s1-C (no norm, tanh)

(6 blocks up to 128 px, 9 at 256, as in the paper). Widths are `width` x (1, 2, 4). The paper's
uk is a 3x3 transposed conv with output padding 1; here it is 4x4 with padding 1 (the library's
transposed convolutions have no output padding): the same 2x upsampling. Instance norm by
default (the paper's; `norm='batch'` is its other option). Weights ~ N(0, 0.02).

`CycleGenerators` holds G: A -> B (`a2b`) and F: B -> A (`b2a`) as one network, so that one
player (one optax transform) trains both: `net(a=x)` is {'b': G(x)}, `net(b=y)` {'a': F(y)},
both at once give both. `CycleDiscriminators` holds D_A and D_B the same way: `net(a=x)` is
{'a': D_A(x)}, each a PatchGAN judging an image alone.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gans.models.multiscale import multi_scale
from gans.models.patchgan import PatchGANDiscriminator
from gans.models.unet import ModuleDef, at_least_float32, check_norm, check_positive, normalization, weight_init
from gans.models.ops.convolution import Conv2D, ConvTranspose2D

NUM_DOWNSAMPLING = 2


def reflect_pad(x: jax.Array, pad: int) -> jax.Array:
    """Reflection padding of H and W by `pad` (PyTorch's ReflectionPad2d)."""
    return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode='reflect')


def default_num_blocks(image_size: int) -> int:
    """The paper's rule: 6 residual blocks for images up to 128 px, 9 above."""
    return 6 if image_size <= 128 else 9


class ResNetGenerator(nn.Module):
    """Images [N, H, W, C_in] -> images [N, H, W, channels] in (-1, 1); H and W multiples of 4.

    Layers: in (c7s1), down0, down1 (dk), block{i}_conv{0,1} (Rk), up1, up0 (uk), out (c7s1, bias);
    every conv but `out` is followed by `<name>_norm` (no bias where normed).

    Fields:
      channels: output channels.
      width: channels of the first layer (64); 2x and 4x after the two downsamplings.
      num_blocks: residual blocks at the lowest resolution (6 up to 128 px, 9 at 256).
      norm: 'instance' (the paper), 'batch' or 'none'.
      dtype: computation dtype (None: the input's); parameters are float32.
      conv, conv_transpose: layer classes with Conv2D's constructor.
      padding: of the stride-1 convolutions: 'reflect' (CycleGAN) or 'zero' (StarGAN, whose
        tiled domain code is constant over the image: instance norm removes a constant
        channel's response wherever the padding keeps it constant, so only zero padding's border
        lets it through).
    """
    channels: int
    width: int = 64
    num_blocks: int = 6
    norm: str = 'instance'
    dtype: Any = None
    conv: ModuleDef = Conv2D
    conv_transpose: ModuleDef = ConvTranspose2D
    padding: str = 'reflect'

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
        check_norm(self.norm, 'ResNetGenerator')
        if self.padding not in ('reflect', 'zero'):
            raise ValueError(f"ResNetGenerator.padding must be 'reflect' or 'zero', got {self.padding!r}")
        check_positive('ResNetGenerator', channels=self.channels, width=self.width)
        if self.num_blocks < 0:
            raise ValueError(f'ResNetGenerator.num_blocks must be >= 0, got {self.num_blocks}')
        factor = 2 ** NUM_DOWNSAMPLING
        if x.ndim != 4 or x.shape[1] % factor or x.shape[2] % factor:
            raise ValueError(f'ResNetGenerator expects images [N, H, W, C] with H and W multiples of {factor}, got '
                             f'{tuple(x.shape)}')
        normed = self.norm != 'none'

        def conv(cls, features, kernel, stride, padding, name):
            return cls(features, kernel_size=kernel, strides=stride, padding=padding, use_bias=not normed,
                       kernel_init=weight_init, dtype=self.dtype, name=name)

        def norm_relu(h, name, relu=True):
            if normed:
                h = normalization(self.norm, train, f'{name}_norm', self.dtype)(h)
            return nn.relu(h) if relu else h

        reflect = self.padding == 'reflect'

        def padded(h, pad):  # (input, the conv's own padding)
            return (reflect_pad(h, pad), 0) if reflect else (h, pad)

        h, p = padded(x, 3)
        h = norm_relu(conv(self.conv, self.width, 7, 1, p, 'in')(h), 'in')
        for i in range(NUM_DOWNSAMPLING):
            h = norm_relu(conv(self.conv, self.width * 2 ** (i + 1), 3, 2, 1, f'down{i}')(h), f'down{i}')
        features = self.width * factor
        for b in range(self.num_blocks):
            r, p = padded(h, 1)
            r = norm_relu(conv(self.conv, features, 3, 1, p, f'block{b}_conv0')(r), f'block{b}_conv0')
            r, p = padded(r, 1)
            r = norm_relu(conv(self.conv, features, 3, 1, p, f'block{b}_conv1')(r), f'block{b}_conv1', relu=False)
            h = h + r
        for i in reversed(range(NUM_DOWNSAMPLING)):
            h = norm_relu(conv(self.conv_transpose, self.width * 2 ** i, 4, 2, 1, f'up{i}')(h), f'up{i}')
        h, p = padded(h, 3)
        out = self.conv(self.channels, kernel_size=7, strides=1, padding=p, use_bias=True, kernel_init=weight_init,
                        dtype=self.dtype, name='out')(h)
        return at_least_float32(jnp.tanh(out))


class CycleGenerators(nn.Module):
    """G: A -> B and F: B -> A as one network: {'b': G(a)} and / or {'a': F(b)}."""
    a2b: nn.Module
    b2a: nn.Module

    def __call__(self, a: jax.Array | None = None, b: jax.Array | None = None, train: bool = True) -> dict:
        if a is None and b is None:
            raise ValueError('CycleGenerators translates a= (to B), b= (to A) or both; got neither')
        out = {}
        if a is not None:
            out['b'] = self.a2b(a, train=train)
        if b is not None:
            out['a'] = self.b2a(b, train=train)
        return out


class CycleDiscriminators(nn.Module):
    """D_A and D_B as one network: {'a': D_A(a)} and / or {'b': D_B(b)}, patch logits [N, h, w]
    (per scale, for multi-scale discriminators; with `features=True`, (logits, features))."""
    d_a: nn.Module
    d_b: nn.Module

    def __call__(self, a: jax.Array | None = None, b: jax.Array | None = None, train: bool = True,
                 features: bool = False) -> dict:
        if a is None and b is None:
            raise ValueError('CycleDiscriminators judges a= (D_A), b= (D_B) or both; got neither')
        out = {}
        if a is not None:
            out['a'] = self.d_a(None, a, train=train, features=features)
        if b is not None:
            out['b'] = self.d_b(None, b, train=train, features=features)
        return out


def cycle_networks(channels: int, *, g_width: int, num_blocks: int, g_norm: str, d_width: int, d_layers: int,
                   d_norm: str, dtype: Any, conv: ModuleDef, conv_transpose: ModuleDef,
                   d_scales: int = 1) -> tuple[nn.Module, nn.Module]:
    """(CycleGenerators, CycleDiscriminators) for two domains of `channels`-channel images."""
    def generator():
        return ResNetGenerator(channels=channels, width=g_width, num_blocks=num_blocks, norm=g_norm, dtype=dtype,
                               conv=conv, conv_transpose=conv_transpose)

    def discriminator():
        return multi_scale(PatchGANDiscriminator(num_layers=d_layers, width=d_width, norm=d_norm, dtype=dtype,
                                                 conv=conv), d_scales)

    return CycleGenerators(generator(), generator()), CycleDiscriminators(discriminator(), discriminator())
