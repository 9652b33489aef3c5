"""Class-conditional games on labeled data: the conditional GAN and ACGAN.

Both generators take {'z', 'labels'} (`gans.models.conditional.ConditionalGenerator`); fake labels
are drawn uniformly over the classes. The adversarial part is any objective of `gans.losses`
(`config.loss`), with its gradient penalties.

Config sections `cgan` and `acgan` (`cgan_config`, `acgan_config`): the objective, `latent_dim`,
`num_classes` (None: the dataset's), cgan's `discriminator` ('projection' | 'concat') and
acgan's `class_loss_weight`.

- `cgan` (Mirza & Osindero 2014): D(x, y) judges image-label pairs (`ConditionalDiscriminator`,
  label channels or projection): real images with their labels against fakes with the labels
  they were made for. D can only win by checking that x fits y, which makes G obey y.
- `acgan` (Odena et al. 2017): D(x) gives a real/fake logit and class logits. D minimises its
  adversarial loss plus `class_loss_weight` x (cross-entropy on real labels + cross-entropy on
  the fakes' labels); G minimises its adversarial loss plus the weight x the cross-entropy of
  its fakes' labels, i.e. it makes fakes that D classifies as the label asked for.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

from gans import losses, models
from gans.data import DatasetSpec
from gans.engine.state import GANState
from gans.games.base import (Aux, Batch, GameSetup, Metrics, NoiseGame, check_plain_discriminator, discriminate,
                             drawn_inputs, generate, objective_config, objective_fields)
from gans.models import conditional as conditional_models


def real_labels(batch: Batch, game: str) -> jax.Array:
    if 'label' not in batch:
        raise ValueError(f'game {game} needs a labeled dataset: its batches have no `label` '
                         f'(keys: {sorted(batch)})')
    return batch['label'].astype(jnp.int32)


def sample_labeled_latents(key: jax.Array, num: int, latent_dim: int, num_classes: int) -> dict[str, jax.Array]:
    """{'z': N(0, I) [num, latent_dim], 'labels': uniform int32 [num]}."""
    z_key, label_key = jax.random.split(key)
    return {'z': jax.random.normal(z_key, (num, latent_dim)),
            'labels': jax.random.randint(label_key, (num,), 0, num_classes, jnp.int32)}


def penalties(critic: Callable[[jax.Array], jax.Array], real: jax.Array, fake: jax.Array, key: jax.Array,
              gradient_penalty_weight: float, r1_weight: float) -> tuple[jax.Array, Metrics]:
    """The objective's input-gradient penalties on `critic` (x -> adversarial logits), weighted."""
    total, metrics = jnp.zeros(()), {}
    if gradient_penalty_weight:
        penalty = losses.gradient_penalty(critic, real, fake, key)
        total += gradient_penalty_weight * penalty
        metrics['gradient_penalty'] = penalty
    if r1_weight:
        penalty = losses.r1_penalty(critic, real)
        total += 0.5 * r1_weight * penalty
        metrics['r1_penalty'] = penalty
    return total, metrics


def class_cross_entropy(class_logits: jax.Array, labels: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(class_logits, labels).mean()


def accuracy(class_logits: jax.Array, labels: jax.Array) -> jax.Array:
    return (class_logits.argmax(-1) == labels).mean()


@dataclasses.dataclass(frozen=True)
class LabeledNoiseGame(NoiseGame):
    """Base of the class-conditional games: G(z, labels), labels uniform over the classes."""
    num_classes: int = 10
    objective: losses.Objective = losses.get_objective('nonsaturating')
    gradient_penalty_weight: float = 0.0
    r1_weight: float = 0.0

    def sample_latents(self, key: jax.Array, num: int) -> dict[str, jax.Array]:
        return sample_labeled_latents(key, num, self.latent_dim, self.num_classes)

    def categorical_inputs(self) -> dict[str, int]:
        return {'labels': self.num_classes}


@dataclasses.dataclass(frozen=True)
class ConditionalGame(LabeledNoiseGame):
    """cGAN: D(x, y) against G(z, y)."""

    def discriminator_example(self, x: jax.Array) -> dict[str, jax.Array]:
        return {'x': x, 'labels': jnp.zeros(x.shape[:1], jnp.int32)}

    def d_loss(self, d_params: Any, state: GANState, batch: Batch, key: jax.Array) -> tuple[jax.Array, Aux]:
        real, labels = batch['x'], real_labels(batch, 'cgan')
        z_key, penalty_key = jax.random.split(key)
        latents = drawn_inputs(self, batch, z_key)
        fake = jax.lax.stop_gradient(generate(state, state.generator.params, latents)[0])
        # Real and fake pass separately, so batch norm never mixes their statistics.
        real_logits, model_state = discriminate(state, d_params, state.discriminator.model_state,
                                                {'x': real, 'labels': labels})
        fake_logits, model_state = discriminate(state, d_params, model_state, {'x': fake, 'labels': latents['labels']})
        loss = self.objective.d_loss(real_logits, fake_logits)
        metrics = {'d_loss': loss, 'd_real_logit': real_logits.mean(), 'd_fake_logit': fake_logits.mean()}
        # Interpolates between pairs carry the real example's label; R1 looks at real pairs only.
        critic = lambda x: discriminate(state, d_params, model_state, {'x': x, 'labels': labels})[0]
        penalty, penalty_metrics = penalties(critic, real, fake, penalty_key,
                                             self.gradient_penalty_weight, self.r1_weight)
        return loss + penalty, Aux({**metrics, **penalty_metrics}, model_state, state.game_state)

    def g_loss(self, g_params: Any, state: GANState, batch: Batch, key: jax.Array) -> tuple[jax.Array, Aux]:
        latents = drawn_inputs(self, batch, key)
        fake, g_state = generate(state, g_params, latents)
        d = state.discriminator
        # D's statistics from this pass are dropped: only D's own update moves them.
        fake_logits, _ = discriminate(state, d.params, d.model_state, {'x': fake, 'labels': latents['labels']})
        loss = self.objective.g_loss(fake_logits)
        return loss, Aux({'g_loss': loss}, g_state, state.game_state)


@dataclasses.dataclass(frozen=True)
class AuxiliaryClassifierGame(LabeledNoiseGame):
    """ACGAN: D(x) -> (real/fake logit, class logits) against G(z, y)."""
    class_loss_weight: float = 1.0

    def d_loss(self, d_params: Any, state: GANState, batch: Batch, key: jax.Array) -> tuple[jax.Array, Aux]:
        real, labels = batch['x'], real_labels(batch, 'acgan')
        z_key, penalty_key = jax.random.split(key)
        latents = drawn_inputs(self, batch, z_key)
        fake = jax.lax.stop_gradient(generate(state, state.generator.params, latents)[0])
        (real_logits, real_classes), model_state = discriminate(state, d_params, state.discriminator.model_state,
                                                                real)
        (fake_logits, fake_classes), model_state = discriminate(state, d_params, model_state, fake)
        adversarial = self.objective.d_loss(real_logits, fake_logits)
        class_loss = class_cross_entropy(real_classes, labels) + class_cross_entropy(fake_classes, latents['labels'])
        critic = lambda x: discriminate(state, d_params, model_state, x)[0][0]
        penalty, penalty_metrics = penalties(critic, real, fake, penalty_key,
                                             self.gradient_penalty_weight, self.r1_weight)
        loss = adversarial + self.class_loss_weight * class_loss + penalty
        metrics = {'d_loss': loss, 'd_adversarial_loss': adversarial, 'd_class_loss': class_loss,
                   'd_real_logit': real_logits.mean(), 'd_fake_logit': fake_logits.mean(),
                   'd_real_class_accuracy': accuracy(real_classes, labels),
                   'd_fake_class_accuracy': accuracy(fake_classes, latents['labels']), **penalty_metrics}
        return loss, Aux(metrics, model_state, state.game_state)

    def g_loss(self, g_params: Any, state: GANState, batch: Batch, key: jax.Array) -> tuple[jax.Array, Aux]:
        latents = drawn_inputs(self, batch, key)
        fake, g_state = generate(state, g_params, latents)
        d = state.discriminator
        (fake_logits, fake_classes), _ = discriminate(state, d.params, d.model_state, fake)
        adversarial = self.objective.g_loss(fake_logits)
        class_loss = class_cross_entropy(fake_classes, latents['labels'])
        loss = adversarial + self.class_loss_weight * class_loss
        return loss, Aux({'g_loss': loss, 'g_adversarial_loss': adversarial, 'g_class_loss': class_loss},
                         g_state, state.game_state)


def adversarial_fields(config: ml_collections.ConfigDict, game: str) -> dict:
    """The objective and its penalty weights of a game section, for games other than `gan`,
    which do not clip weights by default."""
    check_plain_discriminator(config, game)
    section = config[game]
    fields = objective_fields(section)
    clip = fields['objective'].weight_clip
    if clip is not None and config.optim.weight_clip is None:
        raise ValueError(f'loss {section.loss} clips D\'s weights by default only in game gan; for {game} set '
                         f'--config.optim.weight_clip={clip} (it clips the heads too) or use wgan_gp')
    return dict(latent_dim=section.latent_dim, **fields)


def num_classes(config: ml_collections.ConfigDict, spec: DatasetSpec, game: str) -> int:
    """`config.<game>.num_classes`, else the dataset's number of labels; they must agree."""
    num = config[game].num_classes
    if num is not None and spec.num_classes is not None and num != spec.num_classes:
        raise ValueError(f'config.{game}.num_classes is {num} but dataset {spec.name!r} has '
                         f'{spec.num_classes} classes')
    num = spec.num_classes if num is None else num
    if not isinstance(num, int) or num < 2:
        raise ValueError(f'game {game} needs a labeled dataset or config.{game}.num_classes >= 2, got {num!r}')
    return num


def _labeled_config() -> ml_collections.ConfigDict:
    section = objective_config(ml_collections.ConfigDict())
    section.latent_dim = 64
    section.num_classes = ml_collections.config_dict.placeholder(int)  # None: the dataset's
    return section


def cgan_config() -> ml_collections.ConfigDict:
    section = _labeled_config()
    section.discriminator = 'projection'  # D(x, y): 'projection' | 'concat' (label channels)
    return section


def acgan_config() -> ml_collections.ConfigDict:
    section = _labeled_config()
    section.class_loss_weight = 1.0  # weight of the class cross-entropy in both players' losses
    return section


def build_cgan(config: ml_collections.ConfigDict, spec: DatasetSpec) -> GameSetup:
    fields, num = adversarial_fields(config, 'cgan'), num_classes(config, spec, 'cgan')
    mode = config.cgan.discriminator
    if mode not in conditional_models.CONDITIONAL_DISCRIMINATORS:
        raise ValueError(f'unknown cgan.discriminator {mode!r}; '
                         f'valid: {list(conditional_models.CONDITIONAL_DISCRIMINATORS)}')
    generator, discriminator = models.build_models(config, spec.shape)
    if mode == 'concat':
        discriminator = conditional_models.widen_input(discriminator, num)
    return GameSetup(ConditionalGame(num_classes=num, **fields),
                     conditional_models.ConditionalGenerator(generator, num),
                     conditional_models.ConditionalDiscriminator(discriminator, num, mode))


def build_acgan(config: ml_collections.ConfigDict, spec: DatasetSpec) -> GameSetup:
    fields, num = adversarial_fields(config, 'acgan'), num_classes(config, spec, 'acgan')
    generator, discriminator = models.build_models(config, spec.shape)
    game = AuxiliaryClassifierGame(num_classes=num, class_loss_weight=config.acgan.class_loss_weight, **fields)
    return GameSetup(game, conditional_models.ConditionalGenerator(generator, num),
                     conditional_models.AuxiliaryClassifierDiscriminator(discriminator, num))
