"""The original minimax GAN objective (Goodfellow et al. 2014) on 32x32 digits.

G minimises log(1 - D(G(z))) (the saturating loss the paper analyses, not its non-saturating
fix). Everything else is the DCGAN default: Adam(2e-4, b1=0.5), batch 64, G's EMA.

    gans train --config experiments/configs/minimax_digits.py --workdir runs/obj_minimax
    gans train --config experiments/configs/minimax_digits.py:tiny ...   # seconds, for tests

Results on this repository's CPU VM: experiments/results/objectives_digits.md.
"""

import os

import ml_collections

from gans.config import load_config


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    """dcgan_digits.py (networks, optimiser, EMA, `tiny`) with the minimax objective and 3000 steps."""
    base = os.path.join(os.path.dirname(__file__), 'dcgan_digits.py')
    config = load_config(f'{base}:{variant}' if variant else base)
    config.loss = 'minimax'
    if not variant:
        config.num_steps = 3000
    return config
