"""ACGAN on the 32x32 digits: G(z, y) against D(x) with a real/fake logit and a class head.

    gans train --config experiments/configs/acgan_digits.py --workdir runs/acgan
    gans train --config experiments/configs/acgan_digits.py:tiny ...   # seconds, for tests

The networks are dcgan_digits' (width 32) wrapped by `gans.models.conditional`.
"""
import ml_collections

from common import digits_dcgan
from gans.config import select_variant


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    config = digits_dcgan('acgan')
    config.acgan.num_classes = 10
    config.acgan.class_loss_weight = 1.0
    config.acgan.loss = 'nonsaturating'
    return select_variant(config, variant, 'acgan_digits')
