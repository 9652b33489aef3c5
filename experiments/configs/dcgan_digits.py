"""DCGAN (Radford et al. 2015) on the shipped 32x32 digits: the default model.

    gans train --config experiments/configs/dcgan_digits.py --workdir runs/dcgan
    gans train --config experiments/configs/dcgan_digits.py:tiny ...   # seconds, for tests
"""
import ml_collections

from common import digits_dcgan
from gans.config import select_variant


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    config = digits_dcgan('gan')
    config.gan.loss = 'nonsaturating'
    config.num_steps = 5000
    config.sample_every = 250
    return select_variant(config, variant, 'dcgan_digits')
