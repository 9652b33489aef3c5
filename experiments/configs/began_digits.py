"""BEGAN (Berthelot et al. 2017) on 32x32 digits.

`game=began`: D is an autoencoder whose L1 reconstruction error is the energy, balanced by the
controller k_t, and Adam(1e-4) as in the paper (b1 = 0.5). D is a convolutional autoencoder as
in the paper (ELU, strided convs down to 8x8) with a small code, h = 16; G is the DCGAN
generator. Three settings differ from the paper's, and together they are what stopped G from
collapsing to one digit on these 1,797 images (experiments/results/objectives_digits.md):
- h = 16, not 64: with h = 64 the autoencoder keeps getting better at the training digits,
  G cannot make fakes as easy to reconstruct, and k_t falls to 0, so D ignores the fakes;
- gamma = 1.0 (fakes to be reconstructed as well as real digits), not 0.5;
- lambda_k = 0.01, not 1e-3: k_t reaches 0.5 in 3000 steps (it stayed below 0.03 at 1e-3),
  so D pushes back on whatever G makes easy, and G spreads over the digits.

    gans train --config experiments/configs/began_digits.py --workdir runs/obj_began
    gans train --config experiments/configs/began_digits.py:tiny ...   # seconds, for tests

Results on this repository's CPU VM: experiments/results/objectives_digits.md.
"""
import ml_collections

from common import digits_dcgan
from gans.config import select_variant


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    config = digits_dcgan('began')  # model dcgan: the generator
    config.num_steps = 3000
    config.began.autoencoder = 'conv'
    config.discriminator.width = 32  # the autoencoder's first conv; doubles per halving of resolution
    config.began.code_dim = 16
    config.began.gamma = 1.0
    config.began.lambda_k = 0.01
    config.optim.g_lr = 1e-4
    config.optim.d_lr = 1e-4
    return select_variant(config, variant, 'began_digits', discriminator={'width': 4})
