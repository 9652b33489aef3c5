"""Game registry: `config.game` names how the players' losses are computed.

- `gan` (default): the adversarial game under `config.loss`, with the remedies `unroll_steps`,
  `replay_size`/`replay_fraction`, and the MLP and DCGAN discriminator options `d_batch_features`
  and `pack` (see README's remedies table).
- `began`: BEGAN, an autoencoder discriminator with the equilibrium controller k_t.
- `madgan`: MAD-GAN, k generators sharing their first layers; D names the generator or "real".
- `cgan`, `acgan`: class-conditional G(z, y) against D(x, y) (projection or label channels) or
  ACGAN's D(x) with a class head (`gans.games.conditional`); `infogan`: unsupervised codes kept
  recoverable by a Q head on D (`gans.games.infogan`).
- `vae`, `cvae`, `vaegan`: the VAE family (`gans.games.vae`): the VAE (beta-VAE through
  `vae_beta`), the conditional VAE, and VAE-GAN (Larsen et al.); the generator is the whole VAE.

`build_game(config, data_shape)` returns the game with the networks it plays with, since some
games bring their own networks (BEGAN's autoencoder, MAD-GAN's generators and classifier).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import flax.linen as nn
import ml_collections
import optax

from gans import config as config_lib
from gans import losses, models
from gans.games.began import BEGANGame
from gans.games.conditional import AuxiliaryClassifierGame, ConditionalGame
from gans.games.infogan import InfoGANGame
from gans.games.gan import AdversarialGame
from gans.games.madgan import MADGANGame
from gans.games.replay import ReplayBuffer
from gans.games import vae as vae_games
from gans.models.autoencoder import ConvAutoencoder, MLPAutoencoder
from gans.models import conditional as conditional_models
from gans.models.minibatch import BATCH_FEATURES
from gans.models.dcgan import DCGANDiscriminator
from gans.models.mlp import MLPDiscriminator
from gans.models.multi_generator import MultiGenerator

UNROLL_OPTIMIZERS = ('d_optimizer', 'sgd')
Game = (AdversarialGame | BEGANGame | MADGANGame | ConditionalGame | AuxiliaryClassifierGame | InfoGANGame
        | vae_games.VAEGame | vae_games.VAEGANGame)


class GameSetup(NamedTuple):
    game: Game
    generator: nn.Module
    discriminator: nn.Module


def _discriminator_options(config: ml_collections.ConfigDict, discriminator: nn.Module) -> nn.Module:
    features, pack = config.d_batch_features, config.pack
    if features not in BATCH_FEATURES:
        raise ValueError(f'unknown d_batch_features {features!r}; valid: {list(BATCH_FEATURES)}')
    if not isinstance(pack, int) or pack < 1:
        raise ValueError(f'pack must be a positive integer, got {pack!r}')
    if features == 'none' and pack == 1:
        return discriminator
    if not isinstance(discriminator, (MLPDiscriminator, DCGANDiscriminator)):
        raise ValueError(f'd_batch_features and pack are options of the mlp and dcgan discriminators; '
                         f'model {config.model!r} does not take them yet')
    if config.batch_size % pack:
        raise ValueError(f'batch_size {config.batch_size} does not split into packs of {pack}')
    return discriminator.clone(pack=pack, batch_features=features,
                               minibatch_kernels=config.minibatch_kernels,
                               minibatch_kernel_dim=config.minibatch_kernel_dim)


def _gan(config: ml_collections.ConfigDict, data_shape: tuple[int, ...]) -> GameSetup:
    objective = losses.get_objective(config.loss)
    gp_weight = config.optim.gradient_penalty_weight
    unroll_optimizer = config.unroll_optimizer
    if unroll_optimizer not in UNROLL_OPTIMIZERS:
        raise ValueError(f'unknown unroll_optimizer {unroll_optimizer!r}; valid: {list(UNROLL_OPTIMIZERS)}')
    unroll_steps = config.unroll_steps
    if not isinstance(unroll_steps, int) or unroll_steps < 0:
        raise ValueError(f'unroll_steps must be a non-negative integer, got {unroll_steps!r}')
    replay_size = config.replay_size
    game = AdversarialGame(
        objective=objective, latent_dim=config.latent_dim,
        gradient_penalty_weight=objective.gradient_penalty_weight if gp_weight is None else gp_weight,
        r1_weight=config.optim.r1_weight, unroll_steps=unroll_steps,
        unroll_tx=optax.sgd(config.optim.d_lr) if unroll_optimizer == 'sgd' else None,
        replay=ReplayBuffer(replay_size, config.replay_fraction) if replay_size else None)
    generator, discriminator = models.build_models(config, data_shape)
    return GameSetup(game, generator, _discriminator_options(config, discriminator))


def _check_no_gan_options(config: ml_collections.ConfigDict, game: str) -> None:
    defaults = config_lib.base_config()
    unsupported = [name for name in ('unroll_steps', 'replay_size', 'pack', 'd_batch_features')
                   if config[name] != defaults[name]]
    if unsupported:
        raise ValueError(f'game {game} does not take {unsupported}; they are options of game gan')


def _began(config: ml_collections.ConfigDict, data_shape: tuple[int, ...]) -> GameSetup:
    _check_no_gan_options(config, 'began')
    game = BEGANGame(latent_dim=config.latent_dim, gamma=config.began_gamma,
                     lambda_k=config.began_lambda_k, k_init=config.began_k_init)
    generator, _ = models.build_models(config, data_shape)
    kind = config.began_autoencoder
    if kind == 'mlp':
        autoencoder = MLPAutoencoder(input_shape=data_shape, hidden=tuple(config.hidden),
                                     code_dim=config.began_code_dim)
    elif kind == 'conv':
        autoencoder = ConvAutoencoder(image_shape=data_shape, width=config.d_width,
                                      code_dim=config.began_code_dim)
    else:
        raise ValueError(f"unknown began_autoencoder {kind!r}; known: 'mlp', 'conv'")
    return GameSetup(game, generator, autoencoder)


def _madgan(config: ml_collections.ConfigDict, data_shape: tuple[int, ...]) -> GameSetup:
    _check_no_gan_options(config, 'madgan')
    if config.model != 'mlp':
        raise ValueError(f"game madgan builds mlp networks; got model {config.model!r}, use --config.model=mlp")
    hidden = tuple(config.hidden)
    num = config.madgan_generators
    shared = config.madgan_shared_layers
    generator = MultiGenerator(output_shape=data_shape, num_generators=num, hidden=hidden,
                               shared_layers=len(hidden) if shared == -1 else shared,
                               tanh_output=len(data_shape) == 3)
    discriminator = MLPDiscriminator(input_shape=data_shape, hidden=hidden, outputs=num + 1)
    game = MADGANGame(latent_dim=config.latent_dim, num_generators=num,
                      diversity_weight=config.madgan_diversity_weight)
    return GameSetup(game, generator, discriminator)


def _adversarial_fields(config: ml_collections.ConfigDict, game: str) -> dict:
    """The objective and its penalty weights, shared by the conditional games and InfoGAN."""
    _check_no_gan_options(config, game)
    objective = losses.get_objective(config.loss)
    if objective.weight_clip is not None and config.optim.weight_clip is None:
        raise ValueError(f'loss {config.loss} clips D\'s weights by default only in game gan; for {game} set '
                         f'--config.optim.weight_clip={objective.weight_clip} (it clips the heads too) or use wgan_gp')
    gp_weight = config.optim.gradient_penalty_weight
    return dict(objective=objective, latent_dim=config.latent_dim, r1_weight=config.optim.r1_weight,
                gradient_penalty_weight=objective.gradient_penalty_weight if gp_weight is None else gp_weight)


def _num_classes(config: ml_collections.ConfigDict, game: str) -> int:
    num = config.num_classes
    if not isinstance(num, int) or num < 2:
        raise ValueError(f'game {game} needs config.num_classes, the number of labels of the dataset '
                         f'(10 for digits), got {num!r}')
    return num


def _cgan(config: ml_collections.ConfigDict, data_shape: tuple[int, ...]) -> GameSetup:
    fields, num = _adversarial_fields(config, 'cgan'), _num_classes(config, 'cgan')
    mode = config.conditional_discriminator
    if mode not in conditional_models.CONDITIONAL_DISCRIMINATORS:
        raise ValueError(f'unknown conditional_discriminator {mode!r}; '
                         f'valid: {list(conditional_models.CONDITIONAL_DISCRIMINATORS)}')
    generator, discriminator = models.build_models(config, data_shape)
    if mode == 'concat':
        discriminator = conditional_models.widen_input(discriminator, num)
    return GameSetup(ConditionalGame(num_classes=num, **fields),
                     conditional_models.ConditionalGenerator(generator, num),
                     conditional_models.ConditionalDiscriminator(discriminator, num, mode))


def _acgan(config: ml_collections.ConfigDict, data_shape: tuple[int, ...]) -> GameSetup:
    fields, num = _adversarial_fields(config, 'acgan'), _num_classes(config, 'acgan')
    generator, discriminator = models.build_models(config, data_shape)
    return GameSetup(AuxiliaryClassifierGame(num_classes=num, class_loss_weight=config.class_loss_weight, **fields),
                     conditional_models.ConditionalGenerator(generator, num),
                     conditional_models.AuxiliaryClassifierDiscriminator(discriminator, num))


def _infogan(config: ml_collections.ConfigDict, data_shape: tuple[int, ...]) -> GameSetup:
    fields = _adversarial_fields(config, 'infogan')
    categories, continuous = config.info_categorical, config.info_continuous
    if not isinstance(categories, int) or categories < 2:
        raise ValueError(f'info_categorical must be an integer >= 2, got {categories!r}')
    if not isinstance(continuous, int) or continuous < 0:
        raise ValueError(f'info_continuous must be a non-negative integer, got {continuous!r}')
    generator, discriminator = models.build_models(config, data_shape)
    game = InfoGANGame(num_categories=categories, num_continuous=continuous, info_weight=config.info_weight,
                       continuous_weight=config.info_continuous_weight, **fields)
    return GameSetup(game, conditional_models.InfoGenerator(generator, categories, continuous),
                     conditional_models.InfoDiscriminator(discriminator, categories, continuous))


def _vae_family(config: ml_collections.ConfigDict, data_shape: tuple[int, ...], name: str) -> GameSetup:
    _check_no_gan_options(config, name)
    return GameSetup(*vae_games.build(config, data_shape, name))


def _vae(config: ml_collections.ConfigDict, data_shape: tuple[int, ...]) -> GameSetup:
    return _vae_family(config, data_shape, 'vae')


def _cvae(config: ml_collections.ConfigDict, data_shape: tuple[int, ...]) -> GameSetup:
    return _vae_family(config, data_shape, 'cvae')


def _vaegan(config: ml_collections.ConfigDict, data_shape: tuple[int, ...]) -> GameSetup:
    return _vae_family(config, data_shape, 'vaegan')

GAMES: dict[str, Callable[[ml_collections.ConfigDict, tuple[int, ...]], GameSetup]] = {
    'gan': _gan,
    'began': _began,
    'madgan': _madgan,
    'cgan': _cgan,
    'acgan': _acgan,
    'infogan': _infogan,
    'vae': _vae,
    'cvae': _cvae,
    'vaegan': _vaegan,
}


def build_game(config: ml_collections.ConfigDict, data_shape: tuple[int, ...]) -> GameSetup:
    """(game, generator, discriminator) for `config.game` (default 'gan') and the example shape."""
    name = config.game
    if name not in GAMES:
        raise ValueError(f'unknown game {name!r}; valid games: {sorted(GAMES)}')
    if name == 'gan' and config.loss == 'began':
        raise ValueError("BEGAN is a game, not a loss: use --config.game=began")
    return GAMES[name](config, tuple(data_shape))
