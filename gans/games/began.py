"""BEGAN: boundary equilibrium GAN (Berthelot, Schumm & Metz 2017).

D is an autoencoder and its output is the per-example reconstruction loss L(v) (here
`gans.models.autoencoder.MLPAutoencoder`, the L1 loss). With L(x) on real data and L(G(z)) on
fakes, averaged over the batch:

    L_D = L(x) - k_t L(G(z))          L_G = L(G(z))
    k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1)
    M = L(x) + |gamma L(x) - L(G(z))|    (convergence measure, logged)

k_t is a proportional controller that keeps E L(G(z)) = gamma E L(x); gamma (the diversity
ratio) trades quality (low) against variety (high). k_t lives in `GANState.game_state['k']`
and is updated at every D update from that update's L(x) and L(G(z)) (the fakes D just
judged, as in the public implementations; the paper's algorithm uses G's batch, drawn from
the same distribution). Select with `--config.game=began`; it takes no objective, since
BEGAN's losses are not functions of logits. Config section `began` (`default_config`).
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from gans import models
from gans.data import DatasetSpec
from gans.engine.state import GANState
from gans.games.base import (Aux, Batch, GameSetup, NoiseGame, check_plain_discriminator, discriminate, drawn_inputs,
                             generate)
from gans.models.autoencoder import ConvAutoencoder, MLPAutoencoder

AUTOENCODERS = ('mlp', 'conv')


def k_update(k: jax.Array, real_loss: jax.Array, fake_loss: jax.Array, gamma: float,
             lambda_k: float) -> jax.Array:
    """k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1)."""
    return jnp.clip(k + lambda_k * (gamma * real_loss - fake_loss), 0.0, 1.0)


def convergence_measure(real_loss: jax.Array, fake_loss: jax.Array, gamma: float) -> jax.Array:
    """M = L(x) + |gamma L(x) - L(G(z))|: falls as training converges."""
    return real_loss + jnp.abs(gamma * real_loss - fake_loss)


@dataclasses.dataclass(frozen=True)
class BEGANGame(NoiseGame):
    gamma: float = 0.5
    lambda_k: float = 1e-3
    k_init: float = 0.0

    def __post_init__(self):
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f'began.gamma must be in [0, 1], got {self.gamma}')
        if not 0.0 <= self.k_init <= 1.0:
            raise ValueError(f'began.k_init must be in [0, 1], got {self.k_init}')

    # z ~ N(0, I) like every game here (the sample grids and `gans sample` draw it); the paper
    # uses U[-1, 1], an unimportant difference for a learned G.

    def init_game_state(self, state: GANState, key: jax.Array) -> dict[str, Any]:
        del state, key
        return {'k': jnp.asarray(self.k_init, jnp.float32)}

    def d_loss(self, d_params: Any, state: GANState, batch: Batch, key: jax.Array) -> tuple[jax.Array, Aux]:
        real = batch['x']
        fake, _ = generate(state, state.generator.params, drawn_inputs(self, batch, key))
        fake = jax.lax.stop_gradient(fake)
        real_energy, model_state = discriminate(state, d_params, state.discriminator.model_state, real)
        fake_energy, model_state = discriminate(state, d_params, model_state, fake)
        real_loss, fake_loss = real_energy.mean(), fake_energy.mean()
        k = state.game_state['k']
        loss = real_loss - k * fake_loss
        # The controller sees values, not gradients.
        real_value, fake_value = jax.lax.stop_gradient((real_loss, fake_loss))
        new_k = k_update(k, real_value, fake_value, self.gamma, self.lambda_k)
        metrics = {'d_loss': loss, 'd_real_recon': real_loss, 'd_fake_recon': fake_loss, 'began_k': new_k,
                   'began_convergence': convergence_measure(real_value, fake_value, self.gamma)}
        return loss, Aux(metrics, model_state, {**state.game_state, 'k': new_k})

    def g_loss(self, g_params: Any, state: GANState, batch: Batch, key: jax.Array) -> tuple[jax.Array, Aux]:
        fake, g_state = generate(state, g_params, drawn_inputs(self, batch, key))
        energy, _ = discriminate(state, state.discriminator.params, state.discriminator.model_state, fake)
        loss = energy.mean()
        return loss, Aux({'g_loss': loss}, g_state, state.game_state)


def default_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({
        'latent_dim': 64,
        'gamma': 0.5,  # diversity ratio
        'lambda_k': 1e-3,  # k_t's learning rate
        'k_init': 0.0,
        'code_dim': 32,  # the autoencoder's bottleneck h
        # 'mlp' (hidden layers of config.discriminator.hidden) | 'conv' (images; first conv
        # config.discriminator.width wide)
        'autoencoder': 'mlp',
    })


def build(config: ml_collections.ConfigDict, spec: DatasetSpec) -> GameSetup:
    check_plain_discriminator(config, 'began')
    section = config.began
    game = BEGANGame(latent_dim=section.latent_dim, gamma=section.gamma, lambda_k=section.lambda_k,
                     k_init=section.k_init)
    generator, _ = models.build_models(config, spec.shape)
    kind, d = section.autoencoder, config.discriminator
    if kind == 'mlp':
        autoencoder = MLPAutoencoder(input_shape=spec.shape, hidden=tuple(d.hidden), code_dim=section.code_dim)
    elif kind == 'conv':
        ops = models.layers(config)
        autoencoder = ConvAutoencoder(image_shape=spec.shape, width=d.width, code_dim=section.code_dim,
                                      conv=ops.conv, conv_transpose=ops.conv_transpose)
    else:
        raise ValueError(f'unknown began.autoencoder {kind!r}; valid: {list(AUTOENCODERS)}')
    return GameSetup(game, generator, autoencoder)
