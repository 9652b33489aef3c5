"""Hinge objective (Lim & Ye 2017; Miyato et al. 2018) on 32x32 digits.

D minimises relu(1 - D(x)) + relu(1 + D(G(z))), G minimises -D(G(z)). DCGAN networks and
optimiser (Adam(2e-4, b1=0.5), batch 64, G's EMA); no spectral norm.

    gans train --config experiments/configs/hinge_digits.py --workdir runs/obj_hinge
    gans train --config experiments/configs/hinge_digits.py:tiny ...   # seconds, for tests

Results on this repository's CPU VM: experiments/results/objectives_digits.md.
"""
import ml_collections

from gans.config import base_config


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    config = base_config()
    config.model = 'dcgan'
    config.dataset = 'digits'
    config.loss = 'hinge'
    config.num_steps = 3000
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
        config.update(image_size=16, latent_dim=8, g_width=8, d_width=8, batch_size=16, num_steps=4,
                      checkpoint_every=2, sample_every=2, log_every=1, grid_size=4)
    elif variant:
        raise ValueError(f'unknown variant {variant!r} of hinge_digits; known: tiny')
    return config
