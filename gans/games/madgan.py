"""MAD-GAN: multi-agent diverse GAN (Ghosh et al. 2018).

k generators (`gans.models.multi_generator.MultiGenerator`, sharing their first layers) play
against one discriminator with k + 1 outputs: class i < k means "made by generator i", class
k means "real". D minimises the cross-entropy of those labels on a real batch and on a fake
batch in which example b comes from generator b mod k. Since D can only tell generators apart
by where their samples lie, generators that pile onto the same mode are easy to tell apart
and are pushed to different modes. Each generator wants its samples called real; G's loss is
the non-saturating -E log D_real(G_i(z)) summed over generators via the batch mean (the
paper writes the saturating form E log(1 - D_real(G_i(z)))).

The lecture's other route to diverse generators, an explicit diversity loss, is the option
`diversity_weight` (`--config.madgan_diversity_weight`): every generator draws from the same
latents, and G's loss adds the mean cosine similarity of D's features (its last hidden layer)
between each pair of generators on the same z, in the spirit of Ghosh et al.'s MAD-GAN-Sim:
generators that land on the same mode look alike to D and pay for it.

Select with `--config.game=madgan --config.madgan_generators=8`; `config.loss` is not used.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import optax

from gans.games.gan import Metrics, discriminate, fake_latents, generate
from gans.models.multi_generator import generator_index
from gans.state import GANState, variables


@dataclasses.dataclass(frozen=True)
class MADGANGame:
    latent_dim: int
    num_generators: int
    diversity_weight: float = 0.0

    def sample_latents(self, key: jax.Array, num: int) -> jax.Array:
        return jax.random.normal(key, (num, self.latent_dim))

    def init_game_state(self, state: GANState, key: jax.Array) -> dict[str, Any]:
        del state, key
        return {}

    def d_loss(self, d_params: Any, state: GANState, batch: dict[str, jax.Array],
               key: jax.Array) -> tuple[jax.Array, tuple[Metrics, Any, Any]]:
        real = batch['x']
        num = real.shape[0]
        fake, _ = generate(state, state.g_params, fake_latents(self, batch, key))
        fake = jax.lax.stop_gradient(fake)
        real_logits, stats = discriminate(state, d_params, state.d_batch_stats, real)
        fake_logits, stats = discriminate(state, d_params, stats, fake)
        real_labels = jax.numpy.full((num,), self.num_generators)
        real_loss = optax.softmax_cross_entropy_with_integer_labels(real_logits, real_labels).mean()
        fake_loss = optax.softmax_cross_entropy_with_integer_labels(
            fake_logits, generator_index(num, self.num_generators)).mean()
        loss = real_loss + fake_loss
        correct = (fake_logits.argmax(-1) == generator_index(num, self.num_generators)).mean()
        metrics = {'d_loss': loss, 'd_real_prob': jax.nn.softmax(real_logits)[:, -1].mean(),
                   'd_generator_accuracy': correct}
        return loss, (metrics, stats, state.game_state)

    def g_loss(self, g_params: Any, state: GANState, batch: dict[str, jax.Array],
               key: jax.Array) -> tuple[jax.Array, tuple[Metrics, Any]]:
        fake, g_stats = generate(state, g_params, fake_latents(self, batch, key))
        logits, _ = discriminate(state, state.d_params, state.d_batch_stats, fake)
        loss = -jax.nn.log_softmax(logits)[:, -1].mean()
        metrics = {'g_loss': loss}
        if self.diversity_weight:
            similarity = self.generator_similarity(g_params, state, jax.random.fold_in(key, 1), fake.shape[0])
            loss = loss + self.diversity_weight * similarity
            metrics['generator_similarity'] = similarity
        return loss, (metrics, g_stats)

    def generator_similarity(self, g_params: Any, state: GANState, key: jax.Array, num: int) -> jax.Array:
        """Mean cosine similarity of D's features between every pair of generators on shared latents."""
        k = self.num_generators
        per_z = max(num // k, 1)
        # Repeating each latent k times sends copy i to generator i (example b goes to b mod k).
        z = jax.numpy.repeat(self.sample_latents(key, per_z), k, axis=0)
        fake, _ = generate(state, g_params, z)
        _, features = state.discriminator.apply(variables(state.d_params, state.d_batch_stats), fake,
                                                train=False, return_features=True)
        unit = features / (jax.numpy.linalg.norm(features, axis=-1, keepdims=True) + 1e-8)
        unit = unit.reshape(per_z, k, -1)
        gram = jax.numpy.einsum('zif,zjf->zij', unit, unit)
        off_diagonal = gram.sum((1, 2)) - jax.numpy.trace(gram, axis1=1, axis2=2)
        return off_diagonal.mean() / (k * (k - 1)) if k > 1 else jax.numpy.zeros(())
