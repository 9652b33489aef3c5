"""The original minimax GAN objective (Goodfellow et al. 2014) on 32x32 digits.

G minimises log(1 - D(G(z))) (the saturating loss the paper analyses, not its non-saturating
fix). With DCGAN's equal rates D rejects G's first samples within ~100 steps and G's gradient
vanishes (samples stay noise); here D learns 4x slower than G (Adam 5e-5 against 2e-4, a
two-time-scale setting), and D's mean fake logit stays near -1.2 to -1.7 (D(G(z)) ~ 0.2) instead
of -12. Otherwise the DCGAN default: batch 64, G's EMA.

    gans train --config experiments/configs/minimax_digits.py --workdir runs/obj_minimax
    gans train --config experiments/configs/minimax_digits.py:tiny ...   # seconds, for tests

Results on this repository's CPU VM: experiments/results/objectives_digits.md.
"""
import ml_collections

from common import digits_dcgan
from gans.config import select_variant


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    config = digits_dcgan('gan')
    config.gan.loss = 'minimax'
    config.num_steps = 3000
    config.sample_every = 250
    config.optim.d_lr = 5e-5  # a slower D keeps log(1 - D(G(z))) out of saturation
    return select_variant(config, variant, 'minimax_digits')
