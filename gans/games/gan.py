"""The unconditional adversarial game: G(z) against D(x), under any objective of `gans.losses`.

A game turns (parameters, state, batch, key) into each player's scalar loss plus metrics and
updated batch statistics. The engine in `gans.train` differentiates these and applies the
players' optax transforms; it knows nothing else about the game. Every game provides:

- `latent_dim`, and `sample_latents(key, num)`: the generator's input, an array z or a dict of
  keyword inputs for conditional generators ({'z', 'labels'} or InfoGAN's {'z', 'codes', ...});
  integer entries other than z are written beside the samples by `gans sample`;
- optionally `discriminator_example(x)`: D's example input for initialisation, when D takes more
  than images (a dict of keyword inputs, e.g. {'x': x, 'labels': ...});
- `init_game_state(state, key)`: the game's own arrays, kept in
  `GANState.game_state` (an empty dict when it has none);
- `d_loss(d_params, state, batch, key) -> (loss, (metrics, D batch stats, new game state))`;
- `g_loss(g_params, state, batch, key) -> (loss, (metrics, G batch stats))`.

This game adds two mode-collapse remedies to the plain one: an unrolled discriminator in G's
loss (`unroll_steps`, `gans.games.unrolled`) and experience replay of past fakes in D's loss
(`replay`, `gans.games.replay`). The unroll judges fresh fakes only: replayed ones do not
depend on G's current parameters.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import optax

from gans import losses
from gans.games import unrolled
from gans.games.replay import ReplayBuffer
from gans.state import GANState, Latents, apply_with_inputs, variables

Metrics = dict[str, jax.Array]


def generate(state: GANState, g_params: Any, latents: Latents) -> tuple[jax.Array, Any]:
    """G(latents) in training mode; returns (fakes, G's updated batch stats)."""
    fake, updates = apply_with_inputs(state.generator, variables(g_params, state.g_batch_stats), latents,
                                      train=True, mutable=['batch_stats'])
    return fake, updates.get('batch_stats', state.g_batch_stats)


def discriminate(state: GANState, d_params: Any, batch_stats: Any, x: jax.Array, **kwargs) -> tuple[Any, Any]:
    """D(x, **kwargs) in training mode; returns (outputs, D's updated batch stats)."""
    logits, updates = state.discriminator.apply(
        variables(d_params, batch_stats), x, train=True, mutable=['batch_stats'], **kwargs)
    return logits, updates.get('batch_stats', batch_stats)


def batch_size(batch: dict[str, jax.Array]) -> int:
    return jax.tree.leaves(batch)[0].shape[0]


LATENTS_KEY = 'latents'


def fake_latents(game: Any, batch: dict[str, Any], key: jax.Array) -> Latents:
    """The latents of the fakes that face `batch`: `batch['latents']` when the step drew them
    (one per example, so that splitting a batch into micro-batches splits its fakes too), else
    `game.sample_latents(key, batch size)`. Every game draws its fakes through this."""
    if LATENTS_KEY in batch:
        return batch[LATENTS_KEY]
    return game.sample_latents(key, batch_size(batch))


@dataclasses.dataclass(frozen=True)
class AdversarialGame:
    objective: losses.Objective
    latent_dim: int
    gradient_penalty_weight: float = 0.0
    r1_weight: float = 0.0
    unroll_steps: int = 0
    # None: unroll with D's own optimizer and state; else this transform from a fresh state.
    unroll_tx: optax.GradientTransformation | None = None
    replay: ReplayBuffer | None = None

    def sample_latents(self, key: jax.Array, num: int) -> jax.Array:
        return jax.random.normal(key, (num, self.latent_dim))

    def init_game_state(self, state: GANState, key: jax.Array) -> dict[str, Any]:
        if self.replay is None:
            return {}
        fakes, _ = generate(state, state.g_params, self.sample_latents(key, self.replay.size))
        return {'replay': self.replay.init(fakes)}

    def d_objective(self, d_params: Any, batch_stats: Any, state: GANState, real: jax.Array,
                    fake: jax.Array, key: jax.Array) -> tuple[jax.Array, tuple[Metrics, Any]]:
        """D's loss on given real and fake batches, regularizers included; (loss, (metrics, stats))."""
        # Real and fake pass separately, as in DCGAN, so batch norm never mixes their statistics.
        real_logits, stats = discriminate(state, d_params, batch_stats, real)
        fake_logits, stats = discriminate(state, d_params, stats, fake)
        loss = self.objective.d_loss(real_logits, fake_logits)
        metrics = {'d_loss': loss, 'd_real_logit': real_logits.mean(), 'd_fake_logit': fake_logits.mean()}

        def critic(x):
            return discriminate(state, d_params, stats, x)[0]

        if self.gradient_penalty_weight:
            penalty = losses.gradient_penalty(critic, real, fake, key)
            loss = loss + self.gradient_penalty_weight * penalty
            metrics['gradient_penalty'] = penalty
        if self.r1_weight:
            penalty = losses.r1_penalty(critic, real)
            loss = loss + 0.5 * self.r1_weight * penalty
            metrics['r1_penalty'] = penalty
        return loss, (metrics, stats)

    def d_loss(self, d_params: Any, state: GANState, batch: dict[str, jax.Array],
               key: jax.Array) -> tuple[jax.Array, tuple[Metrics, Any, Any]]:
        """D's loss on one real batch and as many fakes; (loss, (metrics, D batch stats, game state))."""
        real = batch['x']
        z_key, penalty_key = jax.random.split(key)
        fake, _ = generate(state, state.g_params, fake_latents(self, batch, z_key))
        fake = jax.lax.stop_gradient(fake)
        game_state = state.game_state
        if self.replay is not None:
            fake, buffer = self.replay.mix(game_state['replay'], fake, jax.random.fold_in(key, 2))
            game_state = {**game_state, 'replay': buffer}
        loss, (metrics, stats) = self.d_objective(d_params, state.d_batch_stats, state, real, fake, penalty_key)
        return loss, (metrics, stats, game_state)

    def g_loss(self, g_params: Any, state: GANState, batch: dict[str, jax.Array],
               key: jax.Array) -> tuple[jax.Array, tuple[Metrics, Any]]:
        """G's loss on a fresh latent batch; returns (loss, (metrics, G batch stats))."""
        fake, g_stats = generate(state, g_params, fake_latents(self, batch, key))
        d_params = state.d_params
        if self.unroll_steps:
            d_params = unrolled.unroll_discriminator(
                self._unroll_objective(state), state, g_params, batch['x'],
                jax.random.fold_in(key, 1), self.unroll_steps, self.unroll_tx)
        # D's statistics from this pass are dropped: only D's own update moves them.
        fake_logits, _ = discriminate(state, d_params, state.d_batch_stats, fake)
        loss = self.objective.g_loss(fake_logits)
        return loss, ({'g_loss': loss}, g_stats)

    def _unroll_objective(self, state: GANState) -> unrolled.DObjective:
        def objective(d_params, stats, g_params, real, key):
            z_key, penalty_key = jax.random.split(key)
            # No stop_gradient: the unrolled D must depend on G's parameters.
            fake, _ = generate(state, g_params, self.sample_latents(z_key, real.shape[0]))
            loss, (_, stats) = self.d_objective(d_params, stats, state, real, fake, penalty_key)
            return loss, stats
        return objective
