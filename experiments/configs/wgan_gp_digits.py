"""WGAN-GP (Gulrajani et al. 2017) on 32x32 digits, with the paper's recommended settings.

Gradient penalty lambda = 10 (the objective's default), n_critic = 5, Adam(1e-4, b1=0, b2=0.9)
for both players. The penalty is taken per example, so the critic must judge each example on
its own: the paper drops batch norm from the critic, and so does this config
(`d_batch_norm=False`, DCGAN's critic with biases instead; the paper suggests layer norm).
3000 G steps (15,000 critic updates) take about 9 minutes on the 2-core CPU VM.

    gans train --config experiments/configs/wgan_gp_digits.py --workdir runs/obj_wgan_gp
    gans train --config experiments/configs/wgan_gp_digits.py:tiny ...   # seconds, for tests

Results on this repository's CPU VM: experiments/results/objectives_digits.md.
"""
import ml_collections

from gans.config import base_config


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    config = base_config()
    config.model = 'dcgan'
    config.dataset = 'digits'
    config.loss = 'wgan_gp'
    config.num_steps = 3000
    config.batch_size = 64
    config.checkpoint_every = 1000
    config.sample_every = 500

    config.image_size = 32
    config.latent_dim = 64
    config.g_width = 32
    config.d_width = 32
    config.grid_size = 10
    config.d_batch_norm = False
    config.optim.ema_decay = 0.999
    config.optim.d_steps = 5  # n_critic
    config.optim.g_lr = 1e-4
    config.optim.d_lr = 1e-4
    config.optim.b1 = 0.0
    config.optim.b2 = 0.9

    if variant == 'tiny':
        config.update(image_size=16, latent_dim=8, g_width=8, d_width=8, batch_size=16, num_steps=4,
                      checkpoint_every=2, sample_every=2, log_every=1, grid_size=4)
    elif variant:
        raise ValueError(f'unknown variant {variant!r} of wgan_gp_digits; known: tiny')
    return config
