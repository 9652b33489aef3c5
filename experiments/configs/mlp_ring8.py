"""The MLP GAN of Goodfellow et al. (2014) on 8 Gaussians on a ring (the mode-collapse testbed).

    gans train --config experiments/configs/mlp_ring8.py --workdir runs/ring8
    --config.dataset=grid25 switches to the 5x5 grid.
"""
import ml_collections

from gans.config import base_config


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    config = base_config()
    config.model = 'mlp'
    config.dataset = 'ring8'
    config.loss = 'nonsaturating'
    config.num_steps = 5000
    config.batch_size = 256
    config.sample_every = 500
    config.log_every = 100

    config.latent_dim = 16
    config.hidden = (128, 128)
    config.grid_size = 40
    config.optim.g_lr = 1e-3
    config.optim.d_lr = 1e-3

    if variant == 'tiny':
        config.update(batch_size=32, hidden=(16, 16), num_steps=4, checkpoint_every=2, sample_every=2,
                      log_every=1, grid_size=8)
    elif variant:
        raise ValueError(f'unknown variant {variant!r} of mlp_ring8; known: tiny')
    return config
