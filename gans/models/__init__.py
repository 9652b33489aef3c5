"""Network registry: `config.model` names a pair of (generator, discriminator) modules.

`config.compute_dtype` ('float32' | 'bfloat16') is the networks' computation dtype; their
parameters, and therefore gradients and optimizer states, are float32 either way.
"""
from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from gans.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gans.models.mlp import MLPDiscriminator, MLPGenerator


COMPUTE_DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}


def compute_dtype(config: ml_collections.ConfigDict):
    """The jnp dtype named by `config.compute_dtype` (default float32)."""
    name = config.compute_dtype
    if name not in COMPUTE_DTYPES:
        raise ValueError(f'unknown compute_dtype {name!r}; valid: {list(COMPUTE_DTYPES)}')
    return COMPUTE_DTYPES[name]


def _mlp(config: ml_collections.ConfigDict, data_shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
    hidden, dtype = tuple(config.hidden), compute_dtype(config)
    # Per-player widths where the players differ (PacGAN's mixture nets: G 4x400, D 3x200).
    g_hidden, d_hidden = (tuple(widths or hidden) for widths in (config.g_hidden, config.d_hidden))
    return (MLPGenerator(output_shape=data_shape, hidden=g_hidden, tanh_output=len(data_shape) == 3,
                         batch_norm=bool(config.g_batch_norm), dtype=dtype),
            MLPDiscriminator(input_shape=data_shape, hidden=d_hidden, maxout=config.d_maxout, dtype=dtype))


def _dcgan(config: ml_collections.ConfigDict, data_shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
    if len(data_shape) != 3 or data_shape[0] != data_shape[1]:
        raise ValueError(f'dcgan needs square images [H, W, C], the dataset gives examples of shape {data_shape}')
    size, channels, dtype = data_shape[0], data_shape[2], compute_dtype(config)
    g_batch_norm = True if config.g_batch_norm is None else config.g_batch_norm
    return (DCGANGenerator(image_size=size, channels=channels, width=config.g_width, dtype=dtype,
                           batch_norm=g_batch_norm),
            DCGANDiscriminator(image_size=size, channels=channels, width=config.d_width, dtype=dtype,
                               batch_norm=config.d_batch_norm))


MODELS: dict[str, Callable[[ml_collections.ConfigDict, tuple[int, ...]], tuple[nn.Module, nn.Module]]] = {
    'mlp': _mlp,
    'dcgan': _dcgan,
}


def build_models(config: ml_collections.ConfigDict, data_shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
    """Returns (generator, discriminator) for `config.model` and the dataset's example shape."""
    if config.model not in MODELS:
        raise ValueError(f'unknown model {config.model!r}; valid models: {sorted(MODELS)}')
    return MODELS[config.model](config, tuple(data_shape))
