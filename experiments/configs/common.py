"""What the shipped configs share: the base settings of each family of experiments.

Config files import this module as `common` (`gans.config.load_config` puts a config's folder
on the import path while it runs). Each base returns a complete config
(`gans.config.base_config`) that the file then changes; every file makes its `tiny` variant the
same way, `gans.config.select_variant`.
"""
import ml_collections

from gans.config import base_config


def digits_dcgan(game: str = 'gan') -> ml_collections.ConfigDict:
    """DCGAN networks (width 32) on the shipped 32x32 digits, Adam(2e-4, b1 0.5), batch 64, G's EMA."""
    config = base_config(game, 'dcgan')
    config.dataset = 'digits'
    config.image_size = 32
    config.num_steps = 4000
    config.batch_size = 64
    config.checkpoint_every = 1000
    config.sample_every = 500
    config.grid_size = 10
    config[game].latent_dim = 64
    config.generator.width = 32
    config.discriminator.width = 32
    config.optim.ema_decay = 0.999
    return config


def mixture_mlp(dataset: str) -> ml_collections.ConfigDict:
    """The MLP GAN of Goodfellow et al. on a 2-D mixture: two hidden layers of 128 in both players,
    latent 16, Adam(1e-3), batch 256."""
    config = base_config('gan', 'mlp')
    config.dataset = dataset
    config.num_steps = 5000
    config.batch_size = 256
    config.sample_every = 500
    config.log_every = 100
    config.grid_size = 40
    config.gan.latent_dim = 16
    config.generator.hidden = (128, 128)
    config.discriminator.hidden = (128, 128)
    config.optim.g_lr = 1e-3
    config.optim.d_lr = 1e-3
    return config


# The mixtures' tiny variant: a batch of 32 and hidden layers of 16.
MIXTURE_TINY = {'batch_size': 32, 'grid_size': 8, 'generator': {'hidden': (16, 16)},
                'discriminator': {'hidden': (16, 16)}}


def digits_vae(game: str = 'vae') -> ml_collections.ConfigDict:
    """The convolutional VAE (Bernoulli decoder on grey levels, 16-d latent, width 32) on digits,
    Adam(1e-3, b1 0.9), 3000 steps: what the VAE-family configs share."""
    config = base_config(game, 'dcgan')  # model dcgan: the convolutional encoder / decoder
    config.dataset = 'digits'
    config.image_size = 32
    config.num_steps = 3000
    config.batch_size = 64
    config.checkpoint_every = 1000
    config.sample_every = 500
    config.grid_size = 10
    section = config[game]
    section.latent_dim = 16
    section.decoder = 'bernoulli'
    section.width = 32
    config.optim.g_lr = 1e-3
    config.optim.d_lr = 1e-3
    config.optim.b1 = 0.9
    return config


def vae_variants(config: ml_collections.ConfigDict, variant: str, name: str,
                 **tiny_fields) -> ml_collections.ConfigDict:
    """Comma-separated variants of the VAE configs: `tiny` and `beta=<float>` (e.g. `tiny,beta=4`)."""
    from gans.config import tiny  # pylint: disable=g-import-not-at-top
    for part in filter(None, variant.split(',')):
        if part == 'tiny':
            config = tiny(config, **tiny_fields)
        elif part.startswith('beta='):
            config[config.game].beta = float(part[len('beta='):])
        else:
            raise ValueError(f'unknown variant {part!r} of {name}; known: tiny, beta=<float>')
    return config


def translation_training(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """pix2pix's and CycleGAN's training at 32 px: batch 16, both networks width 32 with a
    one-stride-2-layer PatchGAN (16x16 patches), Adam(2e-4, b1 0.5) constant for the first half of
    the run, then linearly to 0 (both papers), a checkpoint every 1000 steps, 10 test examples
    in the grids."""
    config.batch_size = 16
    config.checkpoint_every = 1000
    config.sample_every = 500
    config.log_every = 50
    config.grid_size = 10
    config.generator.width = 32
    config.discriminator.width = 32
    config.discriminator.num_layers = 1
    config.optim.g_lr = 2e-4
    config.optim.d_lr = 2e-4
    config.optim.b1 = 0.5
    config.optim.lr_schedule = 'constant_then_linear'
    config.optim.lr_final_fraction = 0.0
    return config

