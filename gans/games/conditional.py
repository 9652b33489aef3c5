"""Class-conditional games on labeled data: the conditional GAN and ACGAN.

Both generators take {'z', 'labels'} (`gans.models.conditional.ConditionalGenerator`); fake labels
are drawn uniformly over the classes. The adversarial part is any objective of `gans.losses`
(`config.loss`), with its gradient penalties.

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
import optax

from gans import losses
from gans.games.gan import Metrics, fake_latents, generate
from gans.state import GANState, apply_with_inputs, variables

Batch = dict[str, Any]


def discriminate(state: GANState, d_params: Any, batch_stats: Any, inputs: Any) -> tuple[Any, Any]:
    """D(inputs) in training mode, inputs an array or a dict of keyword inputs; (outputs, new batch stats)."""
    outputs, updates = apply_with_inputs(state.discriminator, variables(d_params, batch_stats), inputs,
                                         train=True, mutable=['batch_stats'])
    return outputs, updates.get('batch_stats', batch_stats)


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
class ConditionalGame:
    """cGAN: D(x, y) against G(z, y)."""
    objective: losses.Objective
    latent_dim: int
    num_classes: int
    gradient_penalty_weight: float = 0.0
    r1_weight: float = 0.0

    def sample_latents(self, key: jax.Array, num: int) -> dict[str, jax.Array]:
        return sample_labeled_latents(key, num, self.latent_dim, self.num_classes)

    def discriminator_example(self, x: jax.Array) -> dict[str, jax.Array]:
        return {'x': x, 'labels': jnp.zeros(x.shape[:1], jnp.int32)}

    def init_game_state(self, state: GANState, key: jax.Array) -> dict[str, Any]:
        del state, key
        return {}

    def d_loss(self, d_params: Any, state: GANState, batch: Batch,
               key: jax.Array) -> tuple[jax.Array, tuple[Metrics, Any, Any]]:
        real, labels = batch['x'], real_labels(batch, 'cgan')
        z_key, penalty_key = jax.random.split(key)
        latents = fake_latents(self, batch, z_key)
        fake = jax.lax.stop_gradient(generate(state, state.g_params, latents)[0])
        # Real and fake pass separately, so batch norm never mixes their statistics.
        real_logits, stats = discriminate(state, d_params, state.d_batch_stats, {'x': real, 'labels': labels})
        fake_logits, stats = discriminate(state, d_params, stats, {'x': fake, 'labels': latents['labels']})
        loss = self.objective.d_loss(real_logits, fake_logits)
        metrics = {'d_loss': loss, 'd_real_logit': real_logits.mean(), 'd_fake_logit': fake_logits.mean()}
        # Interpolates between pairs carry the real example's label; R1 looks at real pairs only.
        critic = lambda x: discriminate(state, d_params, stats, {'x': x, 'labels': labels})[0]
        penalty, penalty_metrics = penalties(critic, real, fake, penalty_key,
                                             self.gradient_penalty_weight, self.r1_weight)
        return loss + penalty, ({**metrics, **penalty_metrics}, stats, state.game_state)

    def g_loss(self, g_params: Any, state: GANState, batch: Batch,
               key: jax.Array) -> tuple[jax.Array, tuple[Metrics, Any]]:
        latents = fake_latents(self, batch, key)
        fake, g_stats = generate(state, g_params, latents)
        # D's statistics from this pass are dropped: only D's own update moves them.
        fake_logits, _ = discriminate(state, state.d_params, state.d_batch_stats,
                                      {'x': fake, 'labels': latents['labels']})
        loss = self.objective.g_loss(fake_logits)
        return loss, ({'g_loss': loss}, g_stats)


@dataclasses.dataclass(frozen=True)
class AuxiliaryClassifierGame:
    """ACGAN: D(x) -> (real/fake logit, class logits) against G(z, y)."""
    objective: losses.Objective
    latent_dim: int
    num_classes: int
    class_loss_weight: float = 1.0
    gradient_penalty_weight: float = 0.0
    r1_weight: float = 0.0

    def sample_latents(self, key: jax.Array, num: int) -> dict[str, jax.Array]:
        return sample_labeled_latents(key, num, self.latent_dim, self.num_classes)

    def init_game_state(self, state: GANState, key: jax.Array) -> dict[str, Any]:
        del state, key
        return {}

    def d_loss(self, d_params: Any, state: GANState, batch: Batch,
               key: jax.Array) -> tuple[jax.Array, tuple[Metrics, Any, Any]]:
        real, labels = batch['x'], real_labels(batch, 'acgan')
        z_key, penalty_key = jax.random.split(key)
        latents = fake_latents(self, batch, z_key)
        fake = jax.lax.stop_gradient(generate(state, state.g_params, latents)[0])
        (real_logits, real_classes), stats = discriminate(state, d_params, state.d_batch_stats, real)
        (fake_logits, fake_classes), stats = discriminate(state, d_params, stats, fake)
        adversarial = self.objective.d_loss(real_logits, fake_logits)
        class_loss = class_cross_entropy(real_classes, labels) + class_cross_entropy(fake_classes, latents['labels'])
        critic = lambda x: discriminate(state, d_params, stats, x)[0][0]
        penalty, penalty_metrics = penalties(critic, real, fake, penalty_key,
                                             self.gradient_penalty_weight, self.r1_weight)
        loss = adversarial + self.class_loss_weight * class_loss + penalty
        metrics = {'d_loss': loss, 'd_adversarial_loss': adversarial, 'd_class_loss': class_loss,
                   'd_real_logit': real_logits.mean(), 'd_fake_logit': fake_logits.mean(),
                   'd_real_class_accuracy': accuracy(real_classes, labels),
                   'd_fake_class_accuracy': accuracy(fake_classes, latents['labels']), **penalty_metrics}
        return loss, (metrics, stats, state.game_state)

    def g_loss(self, g_params: Any, state: GANState, batch: Batch,
               key: jax.Array) -> tuple[jax.Array, tuple[Metrics, Any]]:
        latents = fake_latents(self, batch, key)
        fake, g_stats = generate(state, g_params, latents)
        (fake_logits, fake_classes), _ = discriminate(state, state.d_params, state.d_batch_stats, fake)
        adversarial = self.objective.g_loss(fake_logits)
        class_loss = class_cross_entropy(fake_classes, latents['labels'])
        loss = adversarial + self.class_loss_weight * class_loss
        return loss, ({'g_loss': loss, 'g_adversarial_loss': adversarial, 'g_class_loss': class_loss}, g_stats)
