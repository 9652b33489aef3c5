"""WGAN (Arjovsky et al. 2017) on 32x32 digits, with the paper's recommended settings.

Weight clipping at 0.01 (the objective's default) and n_critic = 5 critic updates per generator
update. The paper uses RMSprop(lr 5e-5); the engine's player optimiser is Adam(b1, b2), and
Adam with b1 = 0 is RMSprop (decay b2) plus bias correction, so Adam(5e-5, b1=0, b2=0.99)
stands in for it. The critic keeps DCGAN's batch norm, as in the paper's DCGAN experiments.

    gans train --config experiments/configs/wgan_digits.py --workdir runs/obj_wgan
    gans train --config experiments/configs/wgan_digits.py:tiny ...   # seconds, for tests

Results on this repository's CPU VM: experiments/results/objectives_digits.md.
"""
import ml_collections

from common import digits_dcgan
from gans.config import select_variant


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    config = digits_dcgan('gan')
    config.gan.loss = 'wgan'
    config.num_steps = 3000
    config.optim.d_steps = 5  # n_critic
    config.optim.g_lr = 5e-5
    config.optim.d_lr = 5e-5
    config.optim.b1 = 0.0  # no momentum: the RMSprop stand-in
    config.optim.b2 = 0.99
    return select_variant(config, variant, 'wgan_digits')
