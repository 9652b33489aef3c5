"""Game registry: `config.game` names how the players' losses are computed from a batch.

Each game module declares its config section (`config.<game>`, defaults beside the game) and a
builder `build(config, spec) -> GameSetup` returning the game with the networks it plays with
(some games bring their own: BEGAN's autoencoder, MAD-GAN's generators, the VAE). The engine
only ever sees the `Game` contract of `gans.games.base`.

- `gan` (default): the adversarial game under any objective of `gans.losses`, with the remedies
  `unroll_steps` and `replay_size` (and the discriminator's packing and batch features).
- `began`: BEGAN, an autoencoder discriminator with the equilibrium controller k_t.
- `madgan`: MAD-GAN, k generators sharing their first layers; D names the generator or "real".
- `cgan`, `acgan`: class-conditional G(z, y) against D(x, y) or ACGAN's D(x) with a class head;
  `infogan`: unsupervised codes kept recoverable by a Q head on D.
- `vae`, `cvae`, `vaegan`: the VAE family; the generator is the whole VAE.
- `pix2pix`: paired image-to-image translation, G(source) against D(source, image), plus L1.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import ml_collections

from gans.data import DatasetSpec
from gans.games import began, conditional, cyclegan, gan, infogan, madgan, pix2pix, stargan, vae
from gans.games.base import Aux, Game, GameSetup, NoiseGame

Builder = Callable[[ml_collections.ConfigDict, DatasetSpec], GameSetup]


class GameEntry(NamedTuple):
    build: Builder
    default_config: Callable[[], ml_collections.ConfigDict]  # the fields of config.<game>
    tiny: dict  # what the `tiny` variant sets in the section
    summary: str


_TINY_LATENT = {'latent_dim': 8}

GAMES: dict[str, GameEntry] = {
    'gan': GameEntry(gan.build, gan.default_config, _TINY_LATENT,
                     'G(z) against D(x) under any objective; unrolled D, experience replay'),
    'began': GameEntry(began.build, began.default_config, {'latent_dim': 8, 'code_dim': 4},
                       'BEGAN: autoencoder D balanced by the controller k_t'),
    'madgan': GameEntry(madgan.build, madgan.default_config, _TINY_LATENT,
                        'MAD-GAN: k generators, D names the generator'),
    'cgan': GameEntry(conditional.build_cgan, conditional.cgan_config, _TINY_LATENT,
                      'conditional GAN: G(z, y) against D(x, y) (projection or label channels)'),
    'acgan': GameEntry(conditional.build_acgan, conditional.acgan_config, _TINY_LATENT,
                       'ACGAN: D(x) with an auxiliary class head'),
    'infogan': GameEntry(infogan.build, infogan.default_config, _TINY_LATENT,
                         'InfoGAN: codes recoverable by a Q head on D'),
    'vae': GameEntry(vae.build_vae_game, vae.vae_config, {'latent_dim': 4, 'width': 8},
                     'VAE / beta-VAE (the generator player is the whole VAE)'),
    'cvae': GameEntry(vae.build_cvae_game, vae.cvae_config, {'latent_dim': 4, 'width': 8},
                      'conditional VAE'),
    'vaegan': GameEntry(vae.build_vaegan_game, vae.vaegan_config, {'latent_dim': 4, 'width': 8},
                        'VAE-GAN: reconstruction in D\'s feature space'),
    'pix2pix': GameEntry(pix2pix.build, pix2pix.default_config, {},
                         'pix2pix: paired translation, cGAN + L1 against a PatchGAN'),
    'cyclegan': GameEntry(cyclegan.build, cyclegan.default_config, {'pool_size': 4},
                          'CycleGAN: unpaired translation, two generators with cycle and identity losses'),
    'stargan': GameEntry(stargan.build, stargan.default_config, {},
                         'StarGAN: one generator among K domains, WGAN-GP, domain classification, reconstruction'),
}


def entry(name: str) -> GameEntry:
    if name not in GAMES:
        raise ValueError(f'unknown game {name!r}; valid games: {sorted(GAMES)}')
    return GAMES[name]


def build_game(config: ml_collections.ConfigDict, spec: DatasetSpec) -> GameSetup:
    """The game `config.game` with its networks, for the dataset `spec` describes."""
    return entry(config.game).build(config, spec)


__all__ = ['Aux', 'GAMES', 'Game', 'GameEntry', 'GameSetup', 'NoiseGame', 'build_game', 'entry']
