"""pix2pix PatchGAN discriminator (Isola et al. 2017): a fully convolutional net that gives
one real/fake logit per overlapping patch of a (source, image) pair, NHWC.

The paper's 70x70 PatchGAN is C64-C128-C256-C512 (4x4 convs, strides 2, 2, 2, 1, PyTorch
padding 1, LeakyReLU(0.2), no norm on the first layer) and a 4x4 stride-1 conv to one
channel: at 256 px it gives a 30x30 grid of logits, each seeing a 70x70 patch. Here
`num_layers` (n) is the number of stride-2 layers: the layers are always

    n x [4x4 conv, stride 2] + [4x4 conv, stride 1] + [4x4 conv to 1 channel, stride 1]

with channels width * min(2^l, 8) for layer l (the stride-1 one is layer n), the first
layer without norm. n = 0 leaves the stride-1 layer (then the first, so unnormalised) and
the output conv: a 7x7 PatchGAN.

Receptive field of one logit (`receptive_field`), by r_L = 1 at the output and
r_{l-1} = s_l (r_l - 1) + k_l through the layers from the last: 7, 16, 34, 70, 142 for
n = 0..4. At 32 px (`output_size`):
  n = 1: 16x16 patches, a 14x14 grid of logits;
  n = 2: 34x34 patches, a 6x6 grid: the central logits see the whole image, so this is
         no longer a patch discriminator;
  n = 3: 70x70 patches, a 2x2 grid, each seeing the whole image plus padding.
For 32 px images use n = 1: 16 px patches are half the image, close to the paper's best
ratio (70 of 256 px, about a quarter), and the grid keeps many independent judgments.

Weights ~ N(0, 0.02), norm scales ~ N(1, 0.02), biases 0. `dtype` is the computation
dtype; parameters are float32 and the logits come back at least float32.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gans.models.unet import (
    MAX_WIDTH_MULTIPLIER,
    Conv2D,
    ModuleDef,
    at_least_float32,
    check_norm,
    check_positive,
    normalization,
    weight_init,
)

KERNEL_SIZE = 4
PADDING = 1


def layer_strides(num_layers: int) -> tuple[int, ...]:
    """Strides of the convolutions, input to output: n stride-2, then two stride-1."""
    if num_layers < 0:
        raise ValueError(f'PatchGANDiscriminator.num_layers must be >= 0, got {num_layers}')
    return (2,) * num_layers + (1, 1)


def receptive_field(num_layers: int) -> int:
    """Side of the input patch that one output logit sees: from r = 1 at the output,
    r_{l-1} = s_l (r_l - 1) + k_l backwards through the layers (k = 4). 70 for n = 3."""
    r = 1
    for s in reversed(layer_strides(num_layers)):
        r = s * (r - 1) + KERNEL_SIZE
    return r


def output_size(input_size: int, num_layers: int) -> int:
    """Side of the logit grid for an input side of `input_size` (< 1: too small)."""
    size = input_size
    for s in layer_strides(num_layers):
        size = (size + 2 * PADDING - KERNEL_SIZE) // s + 1
        if size < 1:
            return 0
    return size


def layer_widths(num_layers: int, width: int = 64) -> tuple[int, ...]:
    """Output channels of the hidden layers (all but the 1-channel output conv)."""
    return tuple(width * min(2 ** l, MAX_WIDTH_MULTIPLIER) for l in range(num_layers + 1))


class PatchGANDiscriminator(nn.Module):
    """(source [N, H, W, C_s], image [N, H, W, C]) -> patch logits [N, h, w] (no sigmoid); with
    source None, the image alone (an unconditional PatchGAN).

    The pair is concatenated along channels (source first) and judged patch by patch;
    h = w = output_size(H, num_layers) for square inputs (30 at 256 px with n = 3).
    Layers: conv{l} for l = 0..n (conv{l}_norm after all but conv0; a bias instead where
    there is no norm), then to_logit.

    Fields:
      num_layers: stride-2 layers n (3 in the paper: 70x70 patches; 1 for 32 px images).
      width: channels of the first layer (64); they double per layer up to 8 * width.
      norm: 'batch' (the paper), 'instance' or 'none'.
      dtype: computation dtype (None: the input's); parameters are float32.
      conv: a layer class with Conv2D's constructor (features, kernel_size, strides,
        padding (PyTorch-style), use_bias, kernel_init, dtype, name).

    `__call__(source, image, train=True, features=False)`: `train` selects batch statistics
    (apply with mutable=['batch_stats'] to update them) over the running averages; `features`
    returns (logits, the activations after each hidden layer), for feature matching.
    """

    num_layers: int = 3
    width: int = 64
    norm: str = 'batch'
    dtype: Any = None
    conv: ModuleDef = Conv2D

    @nn.compact
    def __call__(self, source: jax.Array | None, image: jax.Array, train: bool = True,
                 features: bool = False) -> jax.Array | tuple[jax.Array, tuple[jax.Array, ...]]:
        # source None: an unconditional PatchGAN judging the image alone (CycleGAN's D_A, D_B).
        self._check(image if source is None else source, image)
        strides = layer_strides(self.num_layers)
        x = image if source is None else jnp.concatenate([source, image], axis=-1)
        hidden = []
        for l, (channels, stride) in enumerate(zip(layer_widths(self.num_layers, self.width), strides)):
            norm_here = self.norm != 'none' and l > 0
            x = self.conv(channels, kernel_size=KERNEL_SIZE, strides=stride, padding=PADDING,
                          use_bias=not norm_here, kernel_init=weight_init, dtype=self.dtype,
                          name=f'conv{l}')(x)
            if norm_here:
                x = normalization(self.norm, train, f'conv{l}_norm', self.dtype)(x)
            x = nn.leaky_relu(x, 0.2)
            hidden.append(x)
        logits = self.conv(1, kernel_size=KERNEL_SIZE, strides=strides[-1], padding=PADDING,
                           use_bias=True, kernel_init=weight_init, dtype=self.dtype, name='to_logit')(x)
        logits = at_least_float32(logits[..., 0])
        return (logits, tuple(hidden)) if features else logits

    def _check(self, source: jax.Array, image: jax.Array) -> None:
        check_norm(self.norm, 'PatchGANDiscriminator')
        check_positive('PatchGANDiscriminator', width=self.width)
        layer_strides(self.num_layers)
        if source.ndim != 4 or image.ndim != 4 or source.shape[:3] != image.shape[:3]:
            raise ValueError('PatchGANDiscriminator expects source and image of shapes [N, H, W, C_s] and '
                             f'[N, H, W, C] with the same N, H, W, got {tuple(source.shape)} and '
                             f'{tuple(image.shape)}')
        h, w = source.shape[1:3]
        if min(output_size(h, self.num_layers), output_size(w, self.num_layers)) < 1:
            smallest = next(s for s in range(1, 1 << 16) if output_size(s, self.num_layers) >= 1)
            raise ValueError(f'PatchGANDiscriminator with num_layers={self.num_layers} needs inputs of at '
                             f'least {smallest}x{smallest} pixels, got {h}x{w}')
