"""Network registry: `config.model` names a pair of (generator, discriminator) modules."""
from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import ml_collections

from gans.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gans.models.mlp import MLPDiscriminator, MLPGenerator


def _mlp(config: ml_collections.ConfigDict, data_shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
    hidden = tuple(config.get('hidden', (256, 256)))
    return (MLPGenerator(output_shape=data_shape, hidden=hidden, tanh_output=len(data_shape) == 3),
            MLPDiscriminator(input_shape=data_shape, hidden=hidden))


def _dcgan(config: ml_collections.ConfigDict, data_shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
    if len(data_shape) != 3 or data_shape[0] != data_shape[1]:
        raise ValueError(f'dcgan needs square images [H, W, C], the dataset gives examples of shape {data_shape}')
    size, channels = data_shape[0], data_shape[2]
    return (DCGANGenerator(image_size=size, channels=channels, width=config.get('g_width', 64)),
            DCGANDiscriminator(image_size=size, channels=channels, width=config.get('d_width', 64)))


MODELS: dict[str, Callable[[ml_collections.ConfigDict, tuple[int, ...]], tuple[nn.Module, nn.Module]]] = {
    'mlp': _mlp,
    'dcgan': _dcgan,
}


def build_models(config: ml_collections.ConfigDict, data_shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
    """Returns (generator, discriminator) for `config.model` and the dataset's example shape."""
    if config.model not in MODELS:
        raise ValueError(f'unknown model {config.model!r}; valid models: {sorted(MODELS)}')
    return MODELS[config.model](config, tuple(data_shape))
