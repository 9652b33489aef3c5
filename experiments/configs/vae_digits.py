"""A convolutional VAE (Kingma & Welling 2014) on the shipped 32x32 digits: Bernoulli decoder on
grey levels, 16-d latent, beta = 1 (the ELBO itself).

    gans train --config experiments/configs/vae_digits.py --workdir runs/vae
    gans train --config experiments/configs/vae_digits.py:beta=4 ...     # the beta knob (beta-VAE)
    gans train --config experiments/configs/vae_digits.py:tiny ...       # seconds, for tests
    gans reconstruct --workdir runs/vae                                   # held-out ELBO, reconstructions

Variants combine with commas (`tiny,beta=0.5`); `--config.vae.beta=4` does the same as `beta=4`.
"""
import ml_collections

from common import digits_vae, vae_variants


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    return vae_variants(digits_vae('vae'), variant, 'vae_digits')
