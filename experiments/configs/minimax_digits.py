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

import os

import ml_collections

from gans.config import load_config


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    """dcgan_digits.py (networks, optimiser, EMA, `tiny`) with the minimax objective, a slower D
    and 3000 steps."""
    base = os.path.join(os.path.dirname(__file__), 'dcgan_digits.py')
    config = load_config(f'{base}:{variant}' if variant else base)
    config.loss = 'minimax'
    config.optim.d_lr = 5e-5  # a slower D keeps log(1 - D(G(z))) out of saturation
    if not variant:
        config.num_steps = 3000
    return config
