"""VAE-GAN (Larsen et al. 2016) on digits: the VAE's decoder is also a GAN generator against a
DCGAN discriminator, and reconstructions are judged in that discriminator's feature space.

    gans train --config experiments/configs/vaegan_digits.py --workdir runs/vaegan
    gans train --config experiments/configs/vaegan_digits.py:tiny ...   # seconds, for tests
"""
import ml_collections

from common import digits_vae, vae_variants


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    config = digits_vae('vaegan')
    config.vaegan.loss = 'nonsaturating'
    config.discriminator.width = 32
    config.num_steps = 2500
    config.vaegan.gamma = 0.01  # L_feat sums over D's 2048 features: hundreds of nats per image
    config.optim.g_lr = 3e-4
    config.optim.d_lr = 3e-4
    config.optim.b1 = 0.5
    return vae_variants(config, variant, 'vaegan_digits')
