"""LSGAN (Mao et al. 2017): least-squares objective, a-b-c = 0-1-1, on 32x32 digits.

The paper trains its DCGAN-like networks with Adam(2e-4, b1=0.5), which is the DCGAN default
kept here (batch 64, G's EMA).

    gans train --config experiments/configs/lsgan_digits.py --workdir runs/obj_lsgan
    gans train --config experiments/configs/lsgan_digits.py:tiny ...   # seconds, for tests

Results on this repository's CPU VM: experiments/results/objectives_digits.md.
"""

import os

import ml_collections

from gans.config import load_config


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    """dcgan_digits.py (networks, optimiser, EMA, `tiny`) with the lsgan objective and 3000 steps."""
    base = os.path.join(os.path.dirname(__file__), 'dcgan_digits.py')
    config = load_config(f'{base}:{variant}' if variant else base)
    config.loss = 'lsgan'
    if not variant:
        config.num_steps = 3000
    return config
