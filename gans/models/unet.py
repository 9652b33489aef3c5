"""pix2pix U-Net generator (Isola, Zhu, Zhou & Efros 2017, "Image-to-Image Translation
with Conditional Adversarial Networks"), NHWC, images in [-1, 1].

Encoder: 4x4 stride-2 convolutions (PyTorch padding 1) halving the map down to a 1x1
bottleneck, so an S x S image takes log2(S) of them; channels width, 2 width, 4 width,
8 width, 8 width, ... (C64-C128-C256-C512-C512-C512-C512-C512 at 256 px, width 64).
Decoder: the mirror image, 4x4 stride-2 transposed convolutions back up to S / 2, then
a transposed convolution to `channels` and tanh. With `skips` (the U-Net) the output of
the decoder layer at each resolution is concatenated with the encoder's output at that
resolution before the next transposed convolution; without, it is the paper's
encoder-decoder ablation with the same layer widths.

Activations sit at each layer's input, as in the authors' code: encoder layer i is
LeakyReLU(0.2) (not on the image) -> conv -> norm, decoder layer is ReLU -> transposed
conv -> norm -> dropout, so a skip carries the encoder's pre-activation map and the
decoder's ReLU acts on the concatenation. No norm on the first encoder layer (the paper)
nor on the 1x1 bottleneck (both reference implementations): there, instance norm, and
batch norm at the paper's batch size 1, would output zeros.

Dropout(0.5) on the first `num_dropout` decoder layers is the model's only noise source
(the paper found G ignoring an input z and dropped it), so it stays on at test time (`test_dropout`). It draws from the Flax
rng stream 'dropout': pass `rngs={'dropout': key}` to `apply` (and to `init`, with
'params') whenever `train` or `test_dropout` is set.

Weights ~ N(0, 0.02), norm scales ~ N(1, 0.02), biases 0, as the reference code's
init. `dtype` is the computation dtype; parameters and norm statistics stay float32 and
the images come back at least float32 (`at_least_float32`).
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gans.models.ops.convolution import Conv2D, ConvTranspose2D, at_least_float32

ModuleDef = Any  # a Flax module class with Conv2D's constructor (flax examples' convention)

SUPPORTED_IMAGE_SIZES = (16, 32, 64, 128, 256)
NORMS = ('batch', 'instance', 'none')
MAX_WIDTH_MULTIPLIER = 8  # channels stop doubling at 8 * width (512 in the paper)

weight_init = nn.initializers.normal(stddev=0.02)


def norm_scale_init(key: jax.Array, shape, dtype=jnp.float32) -> jax.Array:
    """N(1, 0.02), the reference code's init of norm scales."""
    return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


def check_norm(norm: str, module: str) -> None:
    if norm not in NORMS:
        raise ValueError(f'{module}.norm must be one of {NORMS}, got {norm!r}')


def normalization(norm: str, train: bool, name: str, dtype: Any) -> nn.Module:
    """The norm layer `norm` names ('batch' | 'instance'; check_norm first).

    'batch': Flax momentum 0.9 (PyTorch's BatchNorm2d momentum 0.1), eps 1e-5; the batch's
    statistics in train mode (updating the running averages), the running averages otherwise. 'instance': each example's
    per-channel statistics over H, W in every mode (PyTorch's InstanceNorm2d(affine=True)),
    eps 1e-5, learned scale and bias. Statistics are computed in at least float32.
    """
    if norm == 'batch':
        return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                            scale_init=norm_scale_init, dtype=dtype, name=name)
    if norm == 'instance':
        return nn.InstanceNorm(epsilon=1e-5, scale_init=norm_scale_init, dtype=dtype, name=name)
    raise ValueError(f'no norm layer for norm={norm!r}')


def check_positive(module: str, **fields: int) -> None:
    for name, value in fields.items():
        if value < 1:
            raise ValueError(f'{module}.{name} must be a positive int, got {value}')


def num_down_layers(image_size: int) -> int:
    """Encoder depth for S x S images: log2(S) stride-2 layers bring S down to 1."""
    if image_size not in SUPPORTED_IMAGE_SIZES:
        raise ValueError(f'UNetGenerator supports image sizes {SUPPORTED_IMAGE_SIZES}, got {image_size}')
    return int(math.log2(image_size))


def encoder_widths(image_size: int, width: int = 64) -> tuple[int, ...]:
    """Output channels of each encoder layer, first to bottleneck: width * min(2^i, 8)."""
    return tuple(width * min(2 ** i, MAX_WIDTH_MULTIPLIER) for i in range(num_down_layers(image_size)))


class UNetGenerator(nn.Module):
    """Source images [N, S, S, C_in] -> images [N, S, S, channels] in (-1, 1).

    S is a power of two in 16..256. Layers (parameters in brackets), for depth D = log2(S):
      down0 [conv, bias]; down1..down{D-2} [conv, down{i}_norm]; down{D-1} [conv, bias]
      (the 1x1 bottleneck); up{D-2}..up0 [transposed conv, up{i}_norm], up{i} producing the
      S / 2^(i+1) map concatenated with down{i}'s; to_image [transposed conv, bias].
    With norm='none' every conv has a bias and there are no norm layers.

    Fields:
      channels: output image channels.
      width: channels of the first encoder layer (64 in the paper); they double per layer up
        to 8 * width, and the decoder mirrors them.
      norm: 'batch' (the paper), 'instance' or 'none'.
      skips: True for the U-Net; False for the encoder-decoder ablation (same layer widths,
        so its decoder convs have fewer input channels and parameters).
      num_dropout: decoder layers, from the bottleneck up, with dropout (3 in the paper;
        clamped to the D - 1 there are). dropout_rate: 0.5 in the paper.
      test_dropout: keep dropout on when train=False (the paper's test-time noise).
      dtype: computation dtype (None: the input's); parameters are float32.
      conv, conv_transpose: layer classes with Conv2D's constructor (features, kernel_size,
        strides, padding (PyTorch-style), use_bias, kernel_init, dtype, name).

    `__call__(source, train=True)`: `train` selects batch statistics (and their update:
    apply with mutable=['batch_stats']) and dropout; dropout is active when `train` or
    `test_dropout`, and then needs rngs={'dropout': key}.
    """

    channels: int = 3
    width: int = 64
    norm: str = 'batch'
    skips: bool = True
    num_dropout: int = 3
    dropout_rate: float = 0.5
    test_dropout: bool = True
    dtype: Any = None
    conv: ModuleDef = Conv2D
    conv_transpose: ModuleDef = ConvTranspose2D

    @nn.compact
    def __call__(self, source: jax.Array, train: bool = True) -> jax.Array:
        widths = self._check(source)
        depth = len(widths)
        normalise = self.norm != 'none'
        dropout_on = train or self.test_dropout
        dropout_layers = min(self.num_dropout, depth - 1)
        if dropout_on and dropout_layers and self.dropout_rate and not self.has_rng('dropout'):
            raise ValueError("UNetGenerator applies dropout (train or test_dropout is set): "
                             "pass rngs={'dropout': key}")

        def layer(cls, features, use_bias, name):
            return cls(features, kernel_size=4, strides=2, padding=1, use_bias=use_bias,
                       kernel_init=weight_init, dtype=self.dtype, name=name)

        encoded, x = [], source
        for i, features in enumerate(widths):
            norm_here = normalise and 0 < i < depth - 1
            if i:
                x = nn.leaky_relu(x, 0.2)
            x = layer(self.conv, features, not norm_here, f'down{i}')(x)
            if norm_here:
                x = normalization(self.norm, train, f'down{i}_norm', self.dtype)(x)
            encoded.append(x)

        # up{i} mirrors down{i}: it outputs down{i}'s channels at down{i}'s resolution.
        for i in reversed(range(depth - 1)):
            x = layer(self.conv_transpose, widths[i], not normalise, f'up{i}')(nn.relu(x))
            if normalise:
                x = normalization(self.norm, train, f'up{i}_norm', self.dtype)(x)
            if depth - 1 - i <= dropout_layers:
                x = nn.Dropout(self.dropout_rate, deterministic=not dropout_on, name=f'up{i}_dropout')(x)
            if self.skips:
                x = jnp.concatenate([x, encoded[i]], axis=-1)
        x = layer(self.conv_transpose, self.channels, True, 'to_image')(nn.relu(x))
        return at_least_float32(jnp.tanh(x))

    def _check(self, source: jax.Array) -> tuple[int, ...]:
        check_norm(self.norm, 'UNetGenerator')
        check_positive('UNetGenerator', channels=self.channels, width=self.width)
        if self.num_dropout < 0 or not 0.0 <= self.dropout_rate < 1.0:
            raise ValueError(f'UNetGenerator needs num_dropout >= 0 and 0 <= dropout_rate < 1, '
                             f'got {self.num_dropout} and {self.dropout_rate}')
        shape = tuple(source.shape)
        if len(shape) != 4 or shape[1] != shape[2] or shape[1] not in SUPPORTED_IMAGE_SIZES:
            raise ValueError(f'UNetGenerator expects square source images [N, S, S, C] with S in '
                             f'{SUPPORTED_IMAGE_SIZES}, got shape {shape}')
        return encoder_widths(shape[1], self.width)
