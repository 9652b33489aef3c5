"""pix2pixHD's multi-scale discriminators (Wang et al. 2018).

`num_scales` identical discriminators (PatchGANs), each with its own parameters: D_0 judges the
input at full resolution, D_k the input downsampled k times by 2. The coarsest sees the most
context per logit, the finest the most detail, so one generator is pushed toward both global
consistency and fine texture without a deeper D. The paper uses 3 at 1024x512, each a
70x70 PatchGAN.

Downsampling is a 3x3 average pool, stride 2, padding 1 with the padded pixels left out of each
mean (pix2pixHD's `AvgPool2d(3, 2, 1, count_include_pad=False)`): side s -> ceil(s / 2).

The output is a list, one entry per scale (finest first) of what the scale's discriminator
returns: its logits, or (logits, features) with `features=True`; `gans.games.multiscale` sums
the adversarial losses over the entries and matches their features.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


def downsample(x: jax.Array) -> jax.Array:
    """NHWC -> ceil(H/2) x ceil(W/2): 3x3 mean over the pixels inside the image, stride 2."""
    window, strides, padding = (1, 3, 3, 1), (1, 2, 2, 1), ((0, 0), (1, 1), (1, 1), (0, 0))
    total = jax.lax.reduce_window(x, 0.0, jax.lax.add, window, strides, padding)
    ones = jnp.ones((1, *x.shape[1:3], 1), x.dtype)
    count = jax.lax.reduce_window(ones, 0.0, jax.lax.add, window, strides, padding)
    return total / count


def scale_sizes(size: int, num_scales: int) -> tuple[int, ...]:
    """Input side each scale's discriminator sees, finest first."""
    sizes = [size]
    for _ in range(num_scales - 1):
        sizes.append(-(-sizes[-1] // 2))
    return tuple(sizes)


class MultiScaleDiscriminator(nn.Module):
    """(source | None, image) -> [D_k(down^k(source), down^k(image)) for k < num_scales].

    Fields:
      discriminator: the full-scale discriminator, called as `d(source, image, train=,
        features=)`; scale k runs a copy of it named `scale{k}`, with its own parameters.
      num_scales: the number of discriminators (pix2pixHD: 3; 1 is the plain discriminator,
        still returned as a one-entry list).
    """
    discriminator: nn.Module
    num_scales: int = 2

    @nn.compact
    def __call__(self, source: jax.Array | None, image: jax.Array, train: bool = True,
                 features: bool = False) -> list:
        if self.num_scales < 1:
            raise ValueError(f'MultiScaleDiscriminator.num_scales must be >= 1, got {self.num_scales}')
        outputs = []
        for k in range(self.num_scales):
            if k:
                source = None if source is None else downsample(source)
                image = downsample(image)
            scale = self.discriminator.clone(parent=self, name=f'scale{k}')
            outputs.append(scale(source, image, train=train, features=features))
        return outputs


def multi_scale(discriminator: nn.Module, num_scales: int) -> nn.Module:
    """`discriminator` at `num_scales` scales; itself, unwrapped, for one (its parameters keep
    their names, so single-scale runs and their checkpoints are unchanged)."""
    if num_scales < 1:
        raise ValueError(f'discriminator.num_scales must be >= 1, got {num_scales}')
    return discriminator if num_scales == 1 else MultiScaleDiscriminator(discriminator, num_scales)
