"""InfoGAN on the 32x32 digits, trained without labels: a 10-way categorical code and two
continuous codes that a Q head on D must recover from G's images.

    gans train --config experiments/configs/infogan_digits.py --workdir runs/infogan
    gans train --config experiments/configs/infogan_digits.py:tiny ...   # seconds, for tests

The networks are dcgan_digits' (width 32) wrapped by `gans.models.conditional`.
"""
import ml_collections

from common import digits_dcgan
from gans.config import select_variant


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    config = digits_dcgan('infogan')
    config.infogan.categorical = 10
    config.infogan.continuous = 2
    config.infogan.info_weight = 1.0
    config.infogan.continuous_weight = 0.1
    config.infogan.loss = 'nonsaturating'
    config.num_steps = 6000
    # The paper's rates: G at 1e-3 against D (and Q) at 2e-4. With G at 2e-4 (4000 steps) the
    # code stayed decodable by Q but unrelated to the digit (experiments/results/conditional_digits.md).
    config.optim.g_lr = 1e-3
    return select_variant(config, variant, 'infogan_digits')
