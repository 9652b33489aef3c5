"""beta-VAE (Higgins et al. 2017) on digits: the VAE of vae_digits.py with beta = 4, reached by a
linear warm-up from 0 over the first 1000 steps (so the decoder learns to use z before the
KL's weight pushes the posterior towards the prior).

    gans train --config experiments/configs/betavae_digits.py --workdir runs/betavae
    gans train --config experiments/configs/betavae_digits.py:tiny ...   # seconds, for tests
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
    config.vae_beta = 4.0
    config.vae_beta_warmup_steps = 1000
    config = vae_digits.apply_variant(config, variant, 'betavae_digits')
    if 'tiny' in variant.split(','):
        config.vae_beta_warmup_steps = 2
    return config
