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
`diversity_weight` (`--config.madgan.diversity_weight`): every generator draws from the same
latents, and G's loss adds the mean cosine similarity of D's features (its last hidden layer)
between each pair of generators on the same z, in the spirit of Ghosh et al.'s MAD-GAN-Sim:
generators that land on the same mode look alike to D and pay for it.

Select with `--config.game=madgan --config.madgan.generators=8` (config section `madgan`); it takes
no objective.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import ml_collections
import optax

from gans.data import DatasetSpec
from gans.engine.state import GANState
from gans.games.base import (Aux, Batch, GameSetup, NoiseGame, check_plain_discriminator, discriminate, drawn_inputs,
                             generate)
from gans.models.mlp import MLPDiscriminator
from gans.models.multi_generator import MultiGenerator, generator_index


@dataclasses.dataclass(frozen=True)
class MADGANGame(NoiseGame):
    num_generators: int = 4
    diversity_weight: float = 0.0

    def d_loss(self, d_params: Any, state: GANState, batch: Batch, key: jax.Array) -> tuple[jax.Array, Aux]:
        real = batch['x']
        num = real.shape[0]
        fake, _ = generate(state, state.generator.params, drawn_inputs(self, batch, key))
        fake = jax.lax.stop_gradient(fake)
        real_logits, model_state = discriminate(state, d_params, state.discriminator.model_state, real)
        fake_logits, model_state = discriminate(state, d_params, model_state, fake)
        real_labels = jax.numpy.full((num,), self.num_generators)
        real_loss = optax.softmax_cross_entropy_with_integer_labels(real_logits, real_labels).mean()
        fake_loss = optax.softmax_cross_entropy_with_integer_labels(
            fake_logits, generator_index(num, self.num_generators)).mean()
        loss = real_loss + fake_loss
        correct = (fake_logits.argmax(-1) == generator_index(num, self.num_generators)).mean()
        metrics = {'d_loss': loss, 'd_real_prob': jax.nn.softmax(real_logits)[:, -1].mean(),
                   'd_generator_accuracy': correct}
        return loss, Aux(metrics, model_state, state.game_state)

    def g_loss(self, g_params: Any, state: GANState, batch: Batch, key: jax.Array) -> tuple[jax.Array, Aux]:
        fake, g_state = generate(state, g_params, drawn_inputs(self, batch, key))
        d = state.discriminator
        logits, _ = discriminate(state, d.params, d.model_state, fake)
        loss = -jax.nn.log_softmax(logits)[:, -1].mean()
        metrics = {'g_loss': loss}
        if self.diversity_weight:
            similarity = self.generator_similarity(g_params, state, jax.random.fold_in(key, 1), fake.shape[0])
            loss = loss + self.diversity_weight * similarity
            metrics['generator_similarity'] = similarity
        return loss, Aux(metrics, g_state, state.game_state)

    def generator_similarity(self, g_params: Any, state: GANState, key: jax.Array, num: int) -> jax.Array:
        """Mean cosine similarity of D's features between every pair of generators on shared latents."""
        k = self.num_generators
        per_z = max(num // k, 1)
        # Repeating each latent k times sends copy i to generator i (example b goes to b mod k).
        z = jax.numpy.repeat(self.sample_latents(key, per_z), k, axis=0)
        fake, _ = generate(state, g_params, z)
        _, features = state.discriminator.apply(fake, train=False, return_features=True)[0]
        unit = features / (jax.numpy.linalg.norm(features, axis=-1, keepdims=True) + 1e-8)
        unit = unit.reshape(per_z, k, -1)
        gram = jax.numpy.einsum('zif,zjf->zij', unit, unit)
        off_diagonal = gram.sum((1, 2)) - jax.numpy.trace(gram, axis1=1, axis2=2)
        return off_diagonal.mean() / (k * (k - 1)) if k > 1 else jax.numpy.zeros(())


def default_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({
        'latent_dim': 64,
        'generators': 4,  # k generators
        'shared_layers': -1,  # hidden layers the generators share; -1: all of them
        'diversity_weight': 0.0,  # weight of the generators' feature-similarity loss
    })


def build(config: ml_collections.ConfigDict, spec: DatasetSpec) -> GameSetup:
    check_plain_discriminator(config, 'madgan')
    if config.model != 'mlp':
        raise ValueError(f"game madgan builds mlp networks; got model {config.model!r}, use --config.model=mlp")
    section, data_shape = config.madgan, spec.shape
    hidden, num, shared = tuple(config.generator.hidden), section.generators, section.shared_layers
    generator = MultiGenerator(output_shape=data_shape, num_generators=num, hidden=hidden,
                               shared_layers=len(hidden) if shared == -1 else shared,
                               tanh_output=len(data_shape) == 3)
    discriminator = MLPDiscriminator(input_shape=data_shape, hidden=tuple(config.discriminator.hidden),
                                     outputs=num + 1)
    game = MADGANGame(latent_dim=section.latent_dim, num_generators=num, diversity_weight=section.diversity_weight)
    return GameSetup(game, generator, discriminator)
