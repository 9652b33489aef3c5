"""Hinge objective (Lim & Ye 2017; Miyato et al. 2018) on 32x32 digits.

D minimises relu(1 - D(x)) + relu(1 + D(G(z))), G minimises -D(G(z)). DCGAN networks and
optimiser (Adam(2e-4, b1=0.5), batch 64, G's EMA); no spectral norm.

    gans train --config experiments/configs/hinge_digits.py --workdir runs/obj_hinge
    gans train --config experiments/configs/hinge_digits.py:tiny ...   # seconds, for tests

Results on this repository's CPU VM: experiments/results/objectives_digits.md.
"""

import os

import ml_collections

from gans.config import load_config


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    """dcgan_digits.py (networks, optimiser, EMA, `tiny`) with the hinge objective and 3000 steps."""
    base = os.path.join(os.path.dirname(__file__), 'dcgan_digits.py')
    config = load_config(f'{base}:{variant}' if variant else base)
    config.loss = 'hinge'
    if not variant:
        config.num_steps = 3000
    return config
