"""Class-conditional GAN on the 32x32 digits: G(z, y) against a projection discriminator D(x, y).

    gans train --config experiments/configs/cgan_digits.py --workdir runs/cgan
    gans train --config experiments/configs/cgan_digits.py --workdir runs/cgan --config.cgan.discriminator=concat
    gans train --config experiments/configs/cgan_digits.py:tiny ...   # seconds, for tests

The networks are dcgan_digits' (width 32) wrapped by `gans.models.conditional`.
"""
import ml_collections

from common import digits_dcgan
from gans.config import select_variant


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    config = digits_dcgan('cgan')
    config.cgan.num_classes = 10
    config.cgan.discriminator = 'projection'
    config.cgan.loss = 'nonsaturating'
    return select_variant(config, variant, 'cgan_digits')
