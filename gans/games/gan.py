"""The unconditional adversarial game: G(z) against D(x), under any objective of `gans.losses`.

A game turns (parameters, state, batch, key) into each player's scalar loss plus metrics and
updated batch statistics. The engine in `gans.train` differentiates these and applies the
players' optax transforms; it knows nothing else about the game.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from gans import losses
from gans.state import GANState, variables

Metrics = dict[str, jax.Array]


@dataclasses.dataclass(frozen=True)
class AdversarialGame:
    objective: losses.Objective
    latent_dim: int
    gradient_penalty_weight: float = 0.0
    r1_weight: float = 0.0

    def sample_latents(self, key: jax.Array, num: int) -> jax.Array:
        return jax.random.normal(key, (num, self.latent_dim))

    def _generate(self, state: GANState, g_params: Any, z: jax.Array) -> tuple[jax.Array, Any]:
        fake, updates = state.generator.apply(
            variables(g_params, state.g_batch_stats), z, train=True, mutable=['batch_stats'])
        return fake, updates.get('batch_stats', state.g_batch_stats)

    def _discriminate(self, state: GANState, d_params: Any, batch_stats: Any,
                      x: jax.Array) -> tuple[jax.Array, Any]:
        logits, updates = state.discriminator.apply(
            variables(d_params, batch_stats), x, train=True, mutable=['batch_stats'])
        return logits, updates.get('batch_stats', batch_stats)

    def d_loss(self, d_params: Any, state: GANState, batch: dict[str, jax.Array],
               key: jax.Array) -> tuple[jax.Array, tuple[Metrics, Any]]:
        """Discriminator loss on one real batch and as many fakes; returns (loss, (metrics, D batch stats))."""
        real = batch['x']
        z_key, penalty_key = jax.random.split(key)
        fake, _ = self._generate(state, state.g_params, self.sample_latents(z_key, real.shape[0]))
        fake = jax.lax.stop_gradient(fake)
        # Real and fake pass separately, as in DCGAN, so batch norm never mixes their statistics.
        real_logits, stats = self._discriminate(state, d_params, state.d_batch_stats, real)
        fake_logits, stats = self._discriminate(state, d_params, stats, fake)
        loss = self.objective.d_loss(real_logits, fake_logits)
        metrics = {'d_loss': loss, 'd_real_logit': real_logits.mean(), 'd_fake_logit': fake_logits.mean()}

        def critic(x):
            return self._discriminate(state, d_params, stats, x)[0]

        if self.gradient_penalty_weight:
            penalty = losses.gradient_penalty(critic, real, fake, penalty_key)
            loss = loss + self.gradient_penalty_weight * penalty
            metrics['gradient_penalty'] = penalty
        if self.r1_weight:
            penalty = losses.r1_penalty(critic, real)
            loss = loss + 0.5 * self.r1_weight * penalty
            metrics['r1_penalty'] = penalty
        return loss, (metrics, stats)

    def g_loss(self, g_params: Any, state: GANState, batch: dict[str, jax.Array],
               key: jax.Array) -> tuple[jax.Array, tuple[Metrics, Any]]:
        """Generator loss on a fresh latent batch; returns (loss, (metrics, G batch stats))."""
        num = jax.tree.leaves(batch)[0].shape[0]
        fake, g_stats = self._generate(state, g_params, self.sample_latents(key, num))
        # D's statistics from this pass are dropped: only D's own update moves them.
        fake_logits, _ = self._discriminate(state, state.d_params, state.d_batch_stats, fake)
        loss = self.objective.g_loss(fake_logits)
        return loss, ({'g_loss': loss}, g_stats)

