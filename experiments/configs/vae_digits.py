"""A convolutional VAE (Kingma & Welling 2014) on the shipped 32x32 digits: Bernoulli decoder on
grey levels, 16-d latent, beta = 1 (the ELBO itself).

    gans train --config experiments/configs/vae_digits.py --workdir runs/vae
    gans train --config experiments/configs/vae_digits.py:beta=4 ...     # the beta knob (beta-VAE)
    gans train --config experiments/configs/vae_digits.py:tiny ...       # seconds, for tests
    gans reconstruct --workdir runs/vae                                   # held-out ELBO, reconstructions

Variants combine with commas (`tiny,beta=0.5`); `--config.vae_beta=4` does the same as `beta=4`.
"""
import ml_collections

from gans.config import base_config


def vae_base(game: str = 'vae') -> ml_collections.ConfigDict:
    """The digits VAE settings the VAE-family configs share."""
    config = base_config()
    config.game = game
    config.model = 'dcgan'  # the convolutional encoder / decoder of gans.models.vae
    config.dataset = 'digits'
    config.num_steps = 3000
    config.batch_size = 64
    config.checkpoint_every = 1000
    config.sample_every = 500
    config.log_every = 50
    config.image_size = 32
    config.latent_dim = 16
    config.grid_size = 10
    config.vae_decoder = 'bernoulli'
    config.vae_width = 32
    config.optim.g_lr = 1e-3
    config.optim.d_lr = 1e-3
    config.optim.b1 = 0.9
    return config


def apply_variant(config: ml_collections.ConfigDict, variant: str, name: str) -> ml_collections.ConfigDict:
    """Applies comma-separated variants: `tiny` (seconds, for tests) and `beta=<float>`."""
    for part in filter(None, variant.split(',')):
        if part == 'tiny':
            config.update(image_size=16, latent_dim=4, vae_width=8, batch_size=16, num_steps=4,
                          checkpoint_every=2, sample_every=2, log_every=1, grid_size=4)
            if config.get('d_width') is not None:
                config.d_width = 8
        elif part.startswith('beta='):
            config.vae_beta = float(part[len('beta='):])
        else:
            raise ValueError(f'unknown variant {part!r} of {name}; known: tiny, beta=<float>')
    return config


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    return apply_variant(vae_base('vae'), variant, 'vae_digits')
