"""Hinge objective (Lim & Ye 2017; Miyato et al. 2018) on 32x32 digits.

D minimises relu(1 - D(x)) + relu(1 + D(G(z))), G minimises -D(G(z)). DCGAN networks and
optimiser (Adam(2e-4, b1=0.5), batch 64, G's EMA); no spectral norm.

    gans train --config experiments/configs/hinge_digits.py --workdir runs/obj_hinge
    gans train --config experiments/configs/hinge_digits.py:tiny ...   # seconds, for tests

Results on this repository's CPU VM: experiments/results/objectives_digits.md.
"""
import ml_collections

from common import digits_dcgan
from gans.config import select_variant


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    config = digits_dcgan('gan')
    config.gan.loss = 'hinge'
    config.num_steps = 3000
    config.sample_every = 250
    return select_variant(config, variant, 'hinge_digits')
