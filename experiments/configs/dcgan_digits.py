"""DCGAN (Radford et al. 2015) on the shipped 32x32 digits: the default model.

    gans train --config experiments/configs/dcgan_digits.py --workdir runs/dcgan
    gans train --config experiments/configs/dcgan_digits.py:tiny ...   # seconds, for tests
"""
import ml_collections


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.model = 'dcgan'
    config.dataset = 'digits'
    config.loss = 'nonsaturating'
    config.num_steps = 3000
    config.batch_size = 64
    config.seed = 0
    config.checkpoint_every = 1000
    config.sample_every = 250
    config.log_every = 50

    config.image_size = 32
    config.latent_dim = 64
    config.g_width = 32
    config.d_width = 32
    config.grid_size = 10  # the sample grid is grid_size x grid_size images
    config.data_dir = ml_collections.config_dict.placeholder(str)
    config.num_devices = 0  # 0: every visible device

    config.optim = ml_collections.ConfigDict()
    config.optim.g_lr = 2e-4
    config.optim.d_lr = 2e-4
    config.optim.b1 = 0.5
    config.optim.b2 = 0.999
    config.optim.d_steps = 1
    config.optim.simultaneous = False
    config.optim.ema_decay = 0.999
    config.optim.weight_clip = ml_collections.config_dict.placeholder(float)
    config.optim.gradient_penalty_weight = ml_collections.config_dict.placeholder(float)
    config.optim.r1_weight = 0.0

    if variant == 'tiny':
        config.image_size = 16
        config.latent_dim = 8
        config.g_width = 8
        config.d_width = 8
        config.batch_size = 16
        config.num_steps = 4
        config.checkpoint_every = 2
        config.sample_every = 2
        config.log_every = 1
        config.grid_size = 4
    elif variant:
        raise ValueError(f'unknown variant {variant!r} of dcgan_digits; known: tiny')
    return config
