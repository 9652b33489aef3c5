"""InfoGAN on the 32x32 digits, trained without labels: a 10-way categorical code and two
continuous codes that a Q head on D must recover from G's images.

    gans train --config experiments/configs/infogan_digits.py --workdir runs/infogan
    gans train --config experiments/configs/infogan_digits.py:tiny ...   # seconds, for tests

The networks are dcgan_digits' (width 32) wrapped by `gans.models.conditional`.
"""
import ml_collections

from gans.config import base_config


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    config = base_config()
    config.game = 'infogan'
    config.model = 'dcgan'
    config.dataset = 'digits'
    config.info_categorical = 10
    config.info_continuous = 2
    config.info_weight = 1.0
    config.info_continuous_weight = 0.1
    config.loss = 'nonsaturating'
    config.num_steps = 6000
    config.batch_size = 64
    config.checkpoint_every = 1000
    config.sample_every = 500

    config.image_size = 32
    config.latent_dim = 64
    config.g_width = 32
    config.d_width = 32
    config.grid_size = 10
    config.optim.ema_decay = 0.999
    # The paper's rates: G at 1e-3 against D (and Q) at 2e-4. With G at 2e-4 (4000 steps) the
    # code stayed decodable by Q but unrelated to the digit (experiments/results/conditional_digits.md).
    config.optim.g_lr = 1e-3

    if variant == 'tiny':
        config.update(image_size=16, latent_dim=8, g_width=8, d_width=8, batch_size=16, num_steps=2,
                      checkpoint_every=2, sample_every=2, log_every=1, grid_size=4)
    elif variant:
        raise ValueError(f'unknown variant {variant!r} of infogan_digits; known: tiny')
    return config
