"""A conditional VAE (Sohn et al. 2015) on digits: labels into encoder and decoder, so
`gans sample` draws digits of given (uniform) labels and writes the labels beside them.

    gans train --config experiments/configs/cvae_digits.py --workdir runs/cvae
    gans train --config experiments/configs/cvae_digits.py:tiny ...   # seconds, for tests
"""
import ml_collections

from common import digits_vae, vae_variants


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    config = digits_vae('cvae')
    config.cvae.num_classes = 10
    return vae_variants(config, variant, 'cvae_digits')
