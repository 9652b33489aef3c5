"""The VAE of vae_digits.py with a 2-D latent, so that decoding a grid of z in the plane draws
the learned manifold of digits (and the posterior means of the test split can be scattered).

    gans train --config experiments/configs/vae2d_digits.py --workdir runs/vae2d
    gans train --config experiments/configs/vae2d_digits.py:tiny ...   # seconds, for tests
"""
import importlib.util
import os

import ml_collections


def _vae_digits():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'vae_digits.py')
    spec = importlib.util.spec_from_file_location('_vae_digits', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    vae_digits = _vae_digits()
    config = vae_digits.vae_base('vae')
    config.latent_dim = 2
    config = vae_digits.apply_variant(config, variant, 'vae2d_digits')
    config.latent_dim = 2  # also in tiny: the point of this config
    return config
