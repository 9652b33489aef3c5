"""WGAN-GP (Gulrajani et al. 2017) on 32x32 digits, with the paper's recommended settings.

Gradient penalty lambda = 10 (the objective's default), n_critic = 5, Adam(1e-4, b1=0, b2=0.9)
for both players. The penalty is taken per example, so the critic must judge each example on
its own: the paper drops batch norm from the critic, and so does this config
(`discriminator.batch_norm=False`, DCGAN's critic with biases instead; the paper suggests layer norm).
3000 G steps (15,000 critic updates) take about 9 minutes on the 2-core CPU VM.

    gans train --config experiments/configs/wgan_gp_digits.py --workdir runs/obj_wgan_gp
    gans train --config experiments/configs/wgan_gp_digits.py:tiny ...   # seconds, for tests

Results on this repository's CPU VM: experiments/results/objectives_digits.md.
"""
import ml_collections

from common import digits_dcgan
from gans.config import select_variant


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    config = digits_dcgan('gan')
    config.gan.loss = 'wgan_gp'
    config.num_steps = 3000
    config.discriminator.batch_norm = False
    config.optim.d_steps = 5  # n_critic
    config.optim.g_lr = 1e-4
    config.optim.d_lr = 1e-4
    config.optim.b1 = 0.0
    config.optim.b2 = 0.9
    return select_variant(config, variant, 'wgan_gp_digits')
