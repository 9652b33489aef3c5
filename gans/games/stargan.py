"""StarGAN (Choi et al. 2018): translation among K domains with one generator.

A labelled image set whose labels include the domains (`stargan.domains`: the dataset labels that
are domains, in order; e.g. `fashion_footwear`'s sandal 5, sneaker 7, ankle boot 9). With c' an
example's own domain and c a target domain drawn uniformly per example, G(x, c) the generator
(`gans.models.stargan`: the one-hot c tiled onto x) and D = (D_src, D_cls):

    L_D = -E D_src(x) + E D_src(G(x, c)) + lambda_gp GP + lambda_cls CE(D_cls(x), c')
    L_G = -E D_src(G(x, c)) + lambda_cls CE(D_cls(G(x, c)), c) + lambda_rec E|x - G(G(x, c), c')|_1

the Wasserstein terms and gradient penalty of WGAN-GP (GP on D_src at interpolates of x and
G(x, c)); the paper's lambda_gp = 10, lambda_cls = 1, lambda_rec = 10 and 5 D steps per G step
(`optim.d_steps`). Other objectives of `gans.losses` replace the Wasserstein terms.

Translation directions are the ordered pairs of domains, `<source>2<target>` by
`stargan.domain_names` (`sandal2sneaker`, ...): the test split's examples of the source domain,
judged against its examples of the target domain. Sample grids: a row of held-out inputs, then a
row per domain of their translations to it. Config section `stargan` (`default_config`).
"""
from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

from gans import losses, models
from gans.data import DatasetSpec
from gans.engine.state import GANState, Inputs
from gans.games.base import (Aux, Batch, Direction, GameSetup, batch_size, discriminate, drawn_inputs, generate,
                             objective_config, objective_fields)
from gans.games.pix2pix import l1_loss


@dataclasses.dataclass(frozen=True)
class StarGANGame:
    domains: tuple[int, ...]  # the dataset labels that are domains, in domain order
    domain_names: tuple[str, ...]
    objective: losses.Objective = losses.get_objective('wgan_gp')
    gradient_penalty_weight: float = 10.0
    classification_weight: float = 1.0
    reconstruction_weight: float = 10.0

    input_source = 'data'
    preview_split = 'test'

    @property
    def num_domains(self) -> int:
        return len(self.domains)

    @property
    def directions(self) -> Mapping[str, Direction]:
        names, out = self.domain_names, {}
        for i, source in enumerate(self.domains):
            for j, target in enumerate(self.domains):
                if i != j:
                    out[f'{names[i]}2{names[j]}'] = Direction(
                        'x', 'x', paired=False, label='label', inverse=f'{names[j]}2{names[i]}',
                        source_class=source, reference_class=target)
        return types.MappingProxyType(out)

    def domain_index(self, labels: jax.Array) -> jax.Array:
        """Dataset labels -> domain indices 0..K-1 (every label must be a domain)."""
        return jnp.argmax(labels[:, None] == jnp.asarray(self.domains)[None, :], axis=-1)

    def one_hot(self, index: jax.Array) -> jax.Array:
        return jax.nn.one_hot(index, self.num_domains)

    def example_inputs(self, spec: DatasetSpec) -> tuple[Inputs, Inputs]:
        x = jnp.zeros((1, *spec.shape))
        return {'x': x, 'target': jnp.zeros((1, self.num_domains))}, x

    def generator_inputs(self, batch: Batch, key: jax.Array) -> Inputs:
        target = jax.random.randint(key, (batch_size(batch),), 0, self.num_domains)
        return {'x': batch['x'], 'target': self.one_hot(target)}

    def init_game_state(self, state: GANState, key: jax.Array) -> Any:
        del state, key
        return {}

    def d_loss(self, d_params: Any, state: GANState, batch: Batch, key: jax.Array) -> tuple[jax.Array, Aux]:
        x = batch['x']
        draw_key, penalty_key = jax.random.split(key)
        fake, _ = generate(state, state.generator.params, drawn_inputs(self, batch, draw_key))
        fake = jax.lax.stop_gradient(fake)
        model_state = state.discriminator.model_state
        real_out, model_state = discriminate(state, d_params, model_state, x)
        fake_out, model_state = discriminate(state, d_params, model_state, fake)
        adversarial = self.objective.d_loss(real_out['adversarial'], fake_out['adversarial'])
        classification = optax.softmax_cross_entropy_with_integer_labels(
            real_out['classes'], self.domain_index(batch['label'])).mean()
        loss = adversarial + self.classification_weight * classification
        metrics = {'d_adversarial_loss': adversarial, 'd_classification_loss': classification}
        if self.gradient_penalty_weight:
            def critic(images):
                return discriminate(state, d_params, model_state, images)[0]['adversarial']

            penalty = losses.gradient_penalty(critic, x, fake, penalty_key)
            loss = loss + self.gradient_penalty_weight * penalty
            metrics['gradient_penalty'] = penalty
        return loss, Aux({'d_loss': loss, **metrics}, model_state, state.game_state)

    def g_loss(self, g_params: Any, state: GANState, batch: Batch, key: jax.Array) -> tuple[jax.Array, Aux]:
        x = batch['x']
        inputs = drawn_inputs(self, batch, key)
        fake, g_state = generate(state, g_params, inputs)
        d = state.discriminator
        out, _ = discriminate(state, d.params, d.model_state, fake)
        adversarial = self.objective.g_loss(out['adversarial'])
        classification = optax.softmax_cross_entropy_with_integer_labels(
            out['classes'], jnp.argmax(inputs['target'], -1)).mean()
        back, g_state = state.generator.apply({'x': fake, 'target': self.one_hot(self.domain_index(batch['label']))},
                                              params=g_params, model_state=g_state)
        reconstruction = l1_loss(back, x)
        loss = (adversarial + self.classification_weight * classification
                + self.reconstruction_weight * reconstruction)
        metrics = {'g_loss': loss, 'g_adversarial_loss': adversarial, 'g_classification_loss': classification,
                   'g_reconstruction_l1': reconstruction}
        return loss, Aux(metrics, g_state, state.game_state)

    def translation_inputs(self, direction: str, images: jax.Array, key: jax.Array) -> Inputs:
        del key
        target = self.domains.index(self.directions[direction].reference_class)
        return {'x': images, 'target': jnp.broadcast_to(self.one_hot(target), (images.shape[0], self.num_domains))}

    def translation_outputs(self, direction: str, outputs: Any) -> jax.Array:
        del direction
        return outputs

    def preview_size(self, grid_size: int) -> int:
        return grid_size  # columns: one per held-out example

    def preview_inputs(self, key: jax.Array, num: int, heldout: Batch | None) -> Inputs:
        del key
        if heldout is None:
            raise ValueError('StarGAN previews translations of held-out examples: pass a batch of the test split')
        x = heldout['x'][:num]
        # Every example to every domain: domain k's translations are rows k * num ... (k + 1) * num - 1.
        targets = jnp.repeat(jnp.eye(self.num_domains), x.shape[0], axis=0)
        return {'x': jnp.tile(x, (self.num_domains, 1, 1, 1)), 'target': targets}

    def preview_grid(self, inputs: Inputs, outputs: Any, heldout: Batch | None) -> tuple[Any, int]:
        del heldout
        num = outputs.shape[0] // self.num_domains
        return jnp.concatenate([inputs['x'][:num], outputs]), num

    def check_step(self, *, micro_batches: int, d_steps: int) -> None:
        del micro_batches, d_steps


def default_config() -> ml_collections.ConfigDict:
    section = objective_config(ml_collections.ConfigDict(), loss='wgan_gp')
    section.domains = ()  # dataset labels that are domains, e.g. (5, 7, 9) on fashion_footwear
    section.domain_names = ()  # their names in direction names; () -> d<label>
    section.classification_weight = 1.0  # lambda_cls
    section.reconstruction_weight = 10.0  # lambda_rec
    return section


def build(config: ml_collections.ConfigDict, spec: DatasetSpec) -> GameSetup:
    section = config.stargan
    domains = tuple(int(d) for d in section.domains)
    if spec.kind != 'image' or not spec.num_classes:
        raise ValueError(f'game stargan needs a labelled image dataset whose labels name the domains; {spec.name!r} '
                         f'is a dataset of kind {spec.kind!r}. Such a dataset: fashion_footwear')
    if len(domains) < 2 or len(set(domains)) != len(domains) or not all(0 <= d < spec.num_classes for d in domains):
        raise ValueError(f'stargan.domains must name at least two distinct labels of {spec.name!r} (0..'
                         f'{spec.num_classes - 1}), got {domains}')
    names = tuple(section.domain_names) or tuple(f'd{d}' for d in domains)
    if len(names) != len(domains) or len(set(names)) != len(names):
        raise ValueError(f'stargan.domain_names must give one distinct name per domain, got {names} for {domains}')
    fields = objective_fields(section)
    if section.r1_weight:
        raise ValueError('game stargan takes the gradient penalty (stargan.gradient_penalty_weight), not R1')
    generator, discriminator = models.build_models(config, spec.shape)
    game = StarGANGame(domains=domains, domain_names=names, objective=fields['objective'],
                       gradient_penalty_weight=fields['gradient_penalty_weight'],
                       classification_weight=section.classification_weight,
                       reconstruction_weight=section.reconstruction_weight)
    return GameSetup(game, generator, discriminator, d_weight_clip=fields['objective'].weight_clip)
