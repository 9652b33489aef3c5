"""Network registry: `config.model` names a family that builds a (generator, discriminator) pair.

Each family declares the fields of `config.generator` and `config.discriminator` with their
defaults beside its builder (`MODELS[name].generator()` / `.discriminator()`), and the fields
its `tiny` variant shrinks. Games that bring networks of their own (BEGAN's autoencoder,
MAD-GAN's generators, the VAE) read the family's sections for their sizes.

`config.compute_dtype` ('float32' | 'bfloat16') is the networks' computation dtype; their
parameters, and therefore gradients and optimizer states, are float32 either way.
`config.conv_layers` ('auto' | 'canonical' | 'xla', `gans.models.ops.layers`) picks the
convolution layer classes the networks are built from, per platform.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from gans.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gans.models.minibatch import BATCH_FEATURES
from gans.models.mlp import MLPDiscriminator, MLPGenerator
from gans.models.ops.layers import ConvLayers, conv_layers
from gans.models.multiscale import multi_scale
from gans.models.patchgan import PatchGANDiscriminator
from gans.models.resnet import cycle_networks, default_num_blocks
from gans.models.stargan import star_networks
from gans.models.unet import UNetGenerator

COMPUTE_DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}
Networks = tuple[nn.Module, nn.Module]


def compute_dtype(config: ml_collections.ConfigDict):
    """The jnp dtype named by `config.compute_dtype` (default float32)."""
    name = config.compute_dtype
    if name not in COMPUTE_DTYPES:
        raise ValueError(f'unknown compute_dtype {name!r}; valid: {list(COMPUTE_DTYPES)}')
    return COMPUTE_DTYPES[name]


def layers(config: ml_collections.ConfigDict) -> ConvLayers:
    """The convolution layer classes `config.conv_layers` means on this platform."""
    return conv_layers(config.conv_layers)


def _batch_features_config(section: ml_collections.ConfigDict) -> None:
    """The discriminator's mode-collapse remedies (gans.models.minibatch), off by default."""
    section.batch_features = 'none'  # 'none' | 'minibatch' (discrimination) | 'stddev'
    section.minibatch_kernels = 32
    section.minibatch_kernel_dim = 8
    section.pack = 1  # PacGAN: D judges this many examples at once


def _batch_features(d: ml_collections.ConfigDict) -> dict:
    if d.batch_features not in BATCH_FEATURES:
        raise ValueError(f'unknown discriminator.batch_features {d.batch_features!r}; valid: {list(BATCH_FEATURES)}')
    if not isinstance(d.pack, int) or d.pack < 1:
        raise ValueError(f'discriminator.pack must be a positive integer, got {d.pack!r}')
    return dict(pack=d.pack, batch_features=d.batch_features, minibatch_kernels=d.minibatch_kernels,
                minibatch_kernel_dim=d.minibatch_kernel_dim)


# ---------------------------------------------------------------------------------------------
# mlp (Goodfellow et al. 2014): any per-example shape, points or flattened images.

def _mlp_generator() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({'hidden': (256, 256), 'batch_norm': False})


def _mlp_discriminator() -> ml_collections.ConfigDict:
    section = ml_collections.ConfigDict({'hidden': (256, 256), 'maxout': 1})  # maxout 1: LeakyReLU units
    _batch_features_config(section)
    return section


def _mlp(config: ml_collections.ConfigDict, data_shape: tuple[int, ...]) -> Networks:
    g, d, dtype = config.generator, config.discriminator, compute_dtype(config)
    return (MLPGenerator(output_shape=data_shape, hidden=tuple(g.hidden), tanh_output=len(data_shape) == 3,
                         batch_norm=g.batch_norm, dtype=dtype),
            MLPDiscriminator(input_shape=data_shape, hidden=tuple(d.hidden), maxout=d.maxout, dtype=dtype,
                             **_batch_features(d)))


# ---------------------------------------------------------------------------------------------
# dcgan (Radford et al. 2015): square images of 16, 32 or 64 px.

def _dcgan_generator() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({'width': 64, 'batch_norm': True})


def _dcgan_discriminator() -> ml_collections.ConfigDict:
    # batch_norm False: no batch norm in the trunk (WGAN-GP's per-example penalty).
    section = ml_collections.ConfigDict({'width': 64, 'batch_norm': True})
    _batch_features_config(section)
    return section


def _square_images(data_shape: tuple[int, ...], model: str) -> tuple[int, int]:
    if len(data_shape) != 3 or data_shape[0] != data_shape[1]:
        raise ValueError(f'{model} needs square images [H, W, C], the dataset gives examples of shape {data_shape}')
    return data_shape[0], data_shape[2]


def _dcgan(config: ml_collections.ConfigDict, data_shape: tuple[int, ...]) -> Networks:
    size, channels = _square_images(data_shape, 'dcgan')
    g, d, dtype, ops = config.generator, config.discriminator, compute_dtype(config), layers(config)
    return (DCGANGenerator(image_size=size, channels=channels, width=g.width, dtype=dtype, batch_norm=g.batch_norm,
                           conv_transpose=ops.conv_transpose),
            DCGANDiscriminator(image_size=size, channels=channels, width=d.width, dtype=dtype,
                               batch_norm=d.batch_norm, conv=ops.conv, **_batch_features(d)))


# ---------------------------------------------------------------------------------------------
# pix2pix (Isola et al. 2017): a U-Net (or the encoder-decoder without skips) and a PatchGAN on
# (source, image) pairs.

def _pix2pix_generator() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({'width': 64, 'skips': True, 'norm': 'batch', 'num_dropout': 3,
                                      'dropout_rate': 0.5, 'test_dropout': True})


def _pix2pix_discriminator() -> ml_collections.ConfigDict:
    # num_layers: stride-2 layers; 3 is the paper's 70x70 PatchGAN (gans.models.patchgan.receptive_field).
    # num_scales > 1: pix2pixHD's PatchGANs at halved resolutions (gans.models.multiscale).
    return ml_collections.ConfigDict({'width': 64, 'num_layers': 3, 'norm': 'batch', 'num_scales': 1})


def _pix2pix(config: ml_collections.ConfigDict, data_shape: tuple[int, ...]) -> Networks:
    _, channels = _square_images(data_shape, 'pix2pix')
    g, d, dtype, ops = config.generator, config.discriminator, compute_dtype(config), layers(config)
    return (UNetGenerator(channels=channels, width=g.width, norm=g.norm, skips=g.skips, num_dropout=g.num_dropout,
                          dropout_rate=g.dropout_rate, test_dropout=g.test_dropout, dtype=dtype, conv=ops.conv,
                          conv_transpose=ops.conv_transpose),
            multi_scale(PatchGANDiscriminator(num_layers=d.num_layers, width=d.width, norm=d.norm, dtype=dtype,
                                              conv=ops.conv), d.num_scales))


# ---------------------------------------------------------------------------------------------
# cyclegan (Zhu et al. 2017): two ResNet generators (A -> B, B -> A) and two unconditional
# PatchGANs, each pair one network (gans.models.resnet).

def _cyclegan_generator() -> ml_collections.ConfigDict:
    # num_blocks None: the paper's 6 up to 128 px, 9 above.
    return ml_collections.ConfigDict({'width': 64, 'num_blocks': ml_collections.config_dict.placeholder(int),
                                      'norm': 'instance'})


def _cyclegan_discriminator() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({'width': 64, 'num_layers': 3, 'norm': 'instance', 'num_scales': 1})


def _cyclegan(config: ml_collections.ConfigDict, data_shape: tuple[int, ...]) -> Networks:
    size, channels = _square_images(data_shape, 'cyclegan')
    g, d, ops = config.generator, config.discriminator, layers(config)
    blocks = default_num_blocks(size) if g.num_blocks is None else g.num_blocks
    return cycle_networks(channels, g_width=g.width, num_blocks=blocks, g_norm=g.norm, d_width=d.width,
                          d_layers=d.num_layers, d_norm=d.norm, d_scales=d.num_scales, dtype=compute_dtype(config),
                          conv=ops.conv,
                          conv_transpose=ops.conv_transpose)


# ---------------------------------------------------------------------------------------------
# stargan (Choi et al. 2018): one ResNet generator taking the target domain, a discriminator with
# adversarial and domain heads (gans.models.stargan); the domains are the game's.

def _stargan_generator() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({'width': 64, 'num_blocks': 6, 'norm': 'instance'})


def _stargan_discriminator() -> ml_collections.ConfigDict:
    # num_layers: stride-2 layers; 4 at 32 px leave the paper's 2x2 map (6 at 128 px).
    return ml_collections.ConfigDict({'width': 64, 'num_layers': 4})


def _stargan(config: ml_collections.ConfigDict, data_shape: tuple[int, ...]) -> Networks:
    _, channels = _square_images(data_shape, 'stargan')
    g, d, ops = config.generator, config.discriminator, layers(config)
    section = config.get('stargan')
    if section is None or len(section.domains) < 2:
        raise ValueError('model stargan needs the game stargan and its stargan.domains (two or more)')
    return star_networks(channels, len(section.domains), g_width=g.width, num_blocks=g.num_blocks, g_norm=g.norm,
                         d_width=d.width, d_layers=d.num_layers, dtype=compute_dtype(config), conv=ops.conv,
                         conv_transpose=ops.conv_transpose)


class ModelFamily(NamedTuple):
    build: Callable[[ml_collections.ConfigDict, tuple[int, ...]], Networks]
    generator: Callable[[], ml_collections.ConfigDict]  # config.generator's fields and defaults
    discriminator: Callable[[], ml_collections.ConfigDict]  # config.discriminator's
    tiny: dict  # what the `tiny` variant sets in each section
    summary: str


MODELS: dict[str, ModelFamily] = {
    'mlp': ModelFamily(_mlp, _mlp_generator, _mlp_discriminator,
                       {'generator': {'hidden': (32,)}, 'discriminator': {'hidden': (32,)}},
                       'fully connected G and D (Goodfellow et al. 2014), any example shape'),
    'dcgan': ModelFamily(_dcgan, _dcgan_generator, _dcgan_discriminator,
                         {'generator': {'width': 8}, 'discriminator': {'width': 8}},
                         'DCGAN (Radford et al. 2015), square images of 16-64 px'),
    'pix2pix': ModelFamily(_pix2pix, _pix2pix_generator, _pix2pix_discriminator,
                           {'generator': {'width': 8}, 'discriminator': {'width': 8, 'num_layers': 1}},
                           'U-Net generator and PatchGAN discriminator (Isola et al. 2017)'),
    'cyclegan': ModelFamily(_cyclegan, _cyclegan_generator, _cyclegan_discriminator,
                            {'generator': {'width': 8, 'num_blocks': 2}, 'discriminator': {'width': 8, 'num_layers': 1}},
                            'two ResNet generators and two PatchGANs (Zhu et al. 2017)'),
    'stargan': ModelFamily(_stargan, _stargan_generator, _stargan_discriminator,
                           {'generator': {'width': 8, 'num_blocks': 1}, 'discriminator': {'width': 8, 'num_layers': 2}},
                           'one ResNet generator for K domains, a D with domain head (Choi et al. 2018)'),
}


def family(name: str) -> ModelFamily:
    if name not in MODELS:
        raise ValueError(f'unknown model {name!r}; valid models: {sorted(MODELS)}')
    return MODELS[name]


def build_models(config: ml_collections.ConfigDict, data_shape: tuple[int, ...]) -> Networks:
    """Returns (generator, discriminator) for `config.model` and the shape of the images G makes."""
    return family(config.model).build(config, tuple(data_shape))
