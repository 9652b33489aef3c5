"""beta-VAE (Higgins et al. 2017) on digits: the VAE of vae_digits.py with beta = 4, reached by a
linear warm-up from 0 over the first 1000 steps (so the decoder learns to use z before the
KL's weight pushes the posterior towards the prior).

    gans train --config experiments/configs/betavae_digits.py --workdir runs/betavae
    gans train --config experiments/configs/betavae_digits.py:tiny ...   # seconds, for tests
"""
import ml_collections

from common import digits_vae, vae_variants


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    config = digits_vae('vae')
    config.vae.beta = 4.0
    config.vae.beta_warmup_steps = 1000
    return vae_variants(config, variant, 'betavae_digits', vae={'beta_warmup_steps': 2})
