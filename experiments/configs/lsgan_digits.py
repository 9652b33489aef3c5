"""LSGAN (Mao et al. 2017): least-squares objective, a-b-c = 0-1-1, on 32x32 digits.

The paper trains its DCGAN-like networks with Adam(2e-4, b1=0.5), which is the DCGAN default
kept here (batch 64, G's EMA).

    gans train --config experiments/configs/lsgan_digits.py --workdir runs/obj_lsgan
    gans train --config experiments/configs/lsgan_digits.py:tiny ...   # seconds, for tests

Results on this repository's CPU VM: experiments/results/objectives_digits.md.
"""
import ml_collections

from common import digits_dcgan
from gans.config import select_variant


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    config = digits_dcgan('gan')
    config.gan.loss = 'lsgan'
    config.num_steps = 3000
    config.sample_every = 250
    return select_variant(config, variant, 'lsgan_digits')
