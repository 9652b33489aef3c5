"""The MLP GAN of Goodfellow et al. (2014) on 8 Gaussians on a ring (the mode-collapse testbed).

    gans train --config experiments/configs/mlp_ring8.py --workdir runs/ring8
    --config.dataset=grid25 switches to the 5x5 grid.
"""
import ml_collections


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.model = 'mlp'
    config.dataset = 'ring8'
    config.loss = 'nonsaturating'
    config.num_steps = 5000
    config.batch_size = 256
    config.seed = 0
    config.checkpoint_every = 1000
    config.sample_every = 500
    config.log_every = 100

    config.latent_dim = 16
    config.hidden = (128, 128)
    config.grid_size = 40  # grid_size**2 points in each sample scatter
    config.data_dir = ml_collections.config_dict.placeholder(str)
    config.num_devices = 0

    config.optim = ml_collections.ConfigDict()
    config.optim.g_lr = 1e-3
    config.optim.d_lr = 1e-3
    config.optim.b1 = 0.5
    config.optim.b2 = 0.999
    config.optim.d_steps = 1
    config.optim.simultaneous = False
    config.optim.ema_decay = ml_collections.config_dict.placeholder(float)
    config.optim.weight_clip = ml_collections.config_dict.placeholder(float)
    config.optim.gradient_penalty_weight = ml_collections.config_dict.placeholder(float)
    config.optim.r1_weight = 0.0

    if variant == 'tiny':
        config.batch_size = 32
        config.hidden = (16, 16)
        config.num_steps = 4
        config.checkpoint_every = 2
        config.sample_every = 2
        config.log_every = 1
        config.grid_size = 8
    elif variant:
        raise ValueError(f'unknown variant {variant!r} of mlp_ring8; known: tiny')
    return config
