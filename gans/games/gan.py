"""The unconditional adversarial game: G(z) against D(x), under any objective of `gans.losses`.

With two mode-collapse remedies beside the discriminator options of the networks (packing and
batch features, `config.discriminator`): an unrolled discriminator in G's loss (`unroll_steps`,
`gans.games.remedies.unrolled`) and experience replay of past fakes in D's loss (`replay_size`,
`gans.games.remedies.replay`). The unroll judges fresh fakes only: replayed ones do not depend
on G's current parameters.

Config section `gan` (`default_config`): the objective (`loss`, penalty weights), `latent_dim`,
`unroll_steps`, `unroll_optimizer`, `replay_size`, `replay_fraction`.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import ml_collections
import optax

from gans import losses, models
from gans.data import DatasetSpec
from gans.engine.state import GANState
from gans.games.base import (Aux, Batch, GameSetup, Metrics, NoiseGame, discriminate, drawn_inputs, generate,
                             objective_config, objective_fields)
from gans.games.remedies import unrolled
from gans.games.remedies.replay import ReplayBuffer

UNROLL_OPTIMIZERS = ('d_optimizer', 'sgd')


@dataclasses.dataclass(frozen=True)
class AdversarialGame(NoiseGame):
    objective: losses.Objective = losses.get_objective('nonsaturating')
    gradient_penalty_weight: float = 0.0
    r1_weight: float = 0.0
    unroll_steps: int = 0
    # None: unroll with D's own optimizer and state; else this transform from a fresh state.
    unroll_tx: optax.GradientTransformation | None = None
    replay: ReplayBuffer | None = None
    example_batch: int = 1  # a packing D needs whole packs in its initialisation batch

    def check_step(self, *, micro_batches: int, d_steps: int) -> None:
        del d_steps
        if micro_batches > 1 and self.unroll_steps:
            raise ValueError('micro_batches > 1 does not combine with unroll_steps: the unrolled discriminator '
                             'would train on each micro-batch alone, not on the whole batch')

    def init_game_state(self, state: GANState, key: jax.Array) -> dict[str, Any]:
        if self.replay is None:
            return {}
        fakes, _ = generate(state, state.generator.params, self.sample_latents(key, self.replay.size))
        return {'replay': self.replay.init(fakes)}

    def d_objective(self, d_params: Any, model_state: Any, state: GANState, real: jax.Array,
                    fake: jax.Array, key: jax.Array) -> tuple[jax.Array, tuple[Metrics, Any]]:
        """D's loss on given real and fake batches, regularizers included; (loss, (metrics, D's model state))."""
        # Real and fake pass separately, as in DCGAN, so batch norm never mixes their statistics.
        real_logits, model_state = discriminate(state, d_params, model_state, real)
        fake_logits, model_state = discriminate(state, d_params, model_state, fake)
        loss = self.objective.d_loss(real_logits, fake_logits)
        metrics = {'d_loss': loss, 'd_real_logit': real_logits.mean(), 'd_fake_logit': fake_logits.mean()}

        def critic(x):
            return discriminate(state, d_params, model_state, x)[0]

        if self.gradient_penalty_weight:
            penalty = losses.gradient_penalty(critic, real, fake, key)
            loss = loss + self.gradient_penalty_weight * penalty
            metrics['gradient_penalty'] = penalty
        if self.r1_weight:
            penalty = losses.r1_penalty(critic, real)
            loss = loss + 0.5 * self.r1_weight * penalty
            metrics['r1_penalty'] = penalty
        return loss, (metrics, model_state)

    def d_loss(self, d_params: Any, state: GANState, batch: Batch, key: jax.Array) -> tuple[jax.Array, Aux]:
        """D's loss on one real batch and as many fakes."""
        real = batch['x']
        z_key, penalty_key = jax.random.split(key)
        fake, _ = generate(state, state.generator.params, drawn_inputs(self, batch, z_key))
        fake = jax.lax.stop_gradient(fake)
        game_state = state.game_state
        if self.replay is not None:
            fake, buffer = self.replay.mix(game_state['replay'], fake, jax.random.fold_in(key, 2))
            game_state = {**game_state, 'replay': buffer}
        loss, (metrics, model_state) = self.d_objective(d_params, state.discriminator.model_state, state, real, fake,
                                                        penalty_key)
        return loss, Aux(metrics, model_state, game_state)

    def g_loss(self, g_params: Any, state: GANState, batch: Batch, key: jax.Array) -> tuple[jax.Array, Aux]:
        """G's loss on a fresh batch of fakes."""
        fake, g_state = generate(state, g_params, drawn_inputs(self, batch, key))
        d_params = state.discriminator.params
        if self.unroll_steps:
            d_params = unrolled.unroll_discriminator(
                self._unroll_objective(state), state, g_params, batch['x'],
                jax.random.fold_in(key, 1), self.unroll_steps, self.unroll_tx)
        # D's statistics from this pass are dropped: only D's own update moves them.
        fake_logits, _ = discriminate(state, d_params, state.discriminator.model_state, fake)
        loss = self.objective.g_loss(fake_logits)
        return loss, Aux({'g_loss': loss}, g_state, state.game_state)

    def _unroll_objective(self, state: GANState) -> unrolled.DObjective:
        def objective(d_params, model_state, g_params, real, key):
            z_key, penalty_key = jax.random.split(key)
            # No stop_gradient: the unrolled D must depend on G's parameters.
            fake, _ = generate(state, g_params, self.sample_latents(z_key, real.shape[0]))
            loss, (_, model_state) = self.d_objective(d_params, model_state, state, real, fake, penalty_key)
            return loss, model_state
        return objective


def default_config() -> ml_collections.ConfigDict:
    section = objective_config(ml_collections.ConfigDict())
    section.latent_dim = 64
    section.unroll_steps = 0  # K unrolled D updates in G's loss; 0: plain GAN
    section.unroll_optimizer = 'd_optimizer'  # the unroll's update rule: 'd_optimizer' (D's Adam) | 'sgd'
    section.replay_size = 0  # past fakes kept for experience replay; 0: off
    section.replay_fraction = 0.5  # of D's fake batch drawn from the replay buffer
    return section


def build(config: ml_collections.ConfigDict, spec: DatasetSpec) -> GameSetup:
    section = config.gan
    if section.loss == 'began':
        raise ValueError("BEGAN is a game, not a loss: use --config.game=began")
    fields = objective_fields(section)
    if section.unroll_optimizer not in UNROLL_OPTIMIZERS:
        raise ValueError(f'unknown gan.unroll_optimizer {section.unroll_optimizer!r}; valid: {list(UNROLL_OPTIMIZERS)}')
    unroll_steps = section.unroll_steps
    if not isinstance(unroll_steps, int) or unroll_steps < 0:
        raise ValueError(f'gan.unroll_steps must be a non-negative integer, got {unroll_steps!r}')
    pack = config.discriminator.get('pack', 1)
    if config.batch_size % pack:
        raise ValueError(f'batch_size {config.batch_size} does not split into packs of {pack}')
    if (config.batch_size // config.optim.micro_batches) % pack:
        raise ValueError(f'micro-batches of {config.batch_size // config.optim.micro_batches} examples do not '
                         f'split into packs of {pack}')
    replay_size = section.replay_size
    game = AdversarialGame(
        latent_dim=section.latent_dim, unroll_steps=unroll_steps, example_batch=pack,
        unroll_tx=optax.sgd(config.optim.d_lr) if section.unroll_optimizer == 'sgd' else None,
        replay=ReplayBuffer(replay_size, section.replay_fraction) if replay_size else None, **fields)
    generator, discriminator = models.build_models(config, spec.shape)
    return GameSetup(game, generator, discriminator, d_weight_clip=fields['objective'].weight_clip)
