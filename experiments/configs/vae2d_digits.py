"""The VAE of vae_digits.py with a 2-D latent, so that decoding a grid of z in the plane draws
the learned manifold of digits (and the posterior means of the test split can be scattered).

    gans train --config experiments/configs/vae2d_digits.py --workdir runs/vae2d
    gans train --config experiments/configs/vae2d_digits.py:tiny ...   # seconds, for tests
"""
import ml_collections

from common import digits_vae, vae_variants


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    config = digits_vae('vae')
    config.vae.latent_dim = 2
    # The 2-D latent is the point of this config, in tiny too.
    return vae_variants(config, variant, 'vae2d_digits', vae={'latent_dim': 2})
