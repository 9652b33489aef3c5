"""Class-conditional GAN on the 32x32 digits: G(z, y) against a projection discriminator D(x, y).

    gans train --config experiments/configs/cgan_digits.py --workdir runs/cgan
    gans train --config experiments/configs/cgan_digits.py --workdir runs/cgan --config.conditional_discriminator=concat
    gans train --config experiments/configs/cgan_digits.py:tiny ...   # seconds, for tests

The networks are dcgan_digits' (width 32) wrapped by `gans.models.conditional`.
"""
import ml_collections

from gans.config import base_config


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    config = base_config()
    config.game = 'cgan'
    config.model = 'dcgan'
    config.dataset = 'digits'
    config.num_classes = 10
    config.conditional_discriminator = 'projection'
    config.loss = 'nonsaturating'
    config.num_steps = 4000
    config.batch_size = 64
    config.checkpoint_every = 1000
    config.sample_every = 500

    config.image_size = 32
    config.latent_dim = 64
    config.g_width = 32
    config.d_width = 32
    config.grid_size = 10
    config.optim.ema_decay = 0.999

    if variant == 'tiny':
        config.update(image_size=16, latent_dim=8, g_width=8, d_width=8, batch_size=16, num_steps=2,
                      checkpoint_every=2, sample_every=2, log_every=1, grid_size=4)
    elif variant:
        raise ValueError(f'unknown variant {variant!r} of cgan_digits; known: tiny')
    return config
