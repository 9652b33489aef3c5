"""A conditional VAE (Sohn et al. 2015) on digits: labels into encoder and decoder, so
`gans sample` draws digits of given (uniform) labels and writes the labels beside them.

    gans train --config experiments/configs/cvae_digits.py --workdir runs/cvae
    gans train --config experiments/configs/cvae_digits.py:tiny ...   # seconds, for tests
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
    config = vae_digits.vae_base('cvae')
    config.num_classes = 10
    return vae_digits.apply_variant(config, variant, 'cvae_digits')
