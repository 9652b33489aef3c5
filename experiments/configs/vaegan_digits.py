"""VAE-GAN (Larsen et al. 2016) on digits: the VAE's decoder is also a GAN generator against a
DCGAN discriminator, and reconstructions are judged in that discriminator's feature space.

    gans train --config experiments/configs/vaegan_digits.py --workdir runs/vaegan
    gans train --config experiments/configs/vaegan_digits.py:tiny ...   # seconds, for tests
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
    config = vae_digits.vae_base('vaegan')
    config.loss = 'nonsaturating'
    config.d_width = 32
    config.num_steps = 2500
    config.vae_gamma = 0.01  # L_feat sums over D's 2048 features: hundreds of nats per image
    config.optim.g_lr = 3e-4
    config.optim.d_lr = 3e-4
    config.optim.b1 = 0.5
    return vae_digits.apply_variant(config, variant, 'vaegan_digits')
