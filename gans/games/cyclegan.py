"""CycleGAN (Zhu et al. 2017): unpaired translation between domains A and B with cycle consistency.

Generators G: A -> B and F: B -> A (one player, `gans.models.resnet.CycleGenerators`) against
discriminators D_A and D_B (the other, `CycleDiscriminators`), on unpaired batches {'a', 'b'}.
With l_D, l_G the objective's losses (the paper's: least squares) and lambda = `cycle_weight`:

    L_D = 1/2 [ l_D(D_A(a), D_A(pool_A(F(b)))) + l_D(D_B(b), D_B(pool_B(G(a)))) ]
    L_G = l_G(D_B(G(a))) + l_G(D_A(F(b)))
          + lambda E[|F(G(a)) - a|_1 + |G(F(b)) - b|_1]                   (cycle consistency)
          + identity_weight * lambda E[|G(b) - b|_1 + |F(a) - a|_1]        (identity)
          [+ feature_matching_weight * (L_FM(D_A) + L_FM(D_B))]

The pools (`gans.games.remedies.replay.ImagePool`, 50 images per domain, swap probability 0.5)
live in the game state. lambda = 10 and identity_weight = 0.5 are the paper's; the identity term
needs A and B images of the same shape. pix2pixHD's multi-scale discriminators
(`discriminator.num_scales`) and feature matching (`gans.games.multiscale`; unpaired, so on the
batch means of D's features) are options. Config section `cyclegan` (`default_config`).
"""
from __future__ import annotations

import dataclasses
import types
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from gans import losses, models
from gans.data import DatasetSpec
from gans.engine.state import GANState, Inputs
from gans.games import multiscale
from gans.games.base import (Aux, Batch, Direction, GameSetup, discriminate, drawn_inputs, generate, objective_config,
                             penalty_free_objective)
from gans.games.pix2pix import l1_loss
from gans.games.remedies.replay import ImagePool

DOMAINS = ('a', 'b')


def two_way_l1(a: jax.Array, b: jax.Array, a_out: jax.Array, b_out: jax.Array) -> jax.Array:
    """E|a_out - a|_1 + E|b_out - b|_1, each an image mean over the batch.

    The cycle loss with a_out = F(G(a)), b_out = G(F(b)): zero for generators that are each other's
    inverse. The identity loss with a_out = F(a), b_out = G(b): zero for identity generators
    (colour preservation).
    """
    return l1_loss(a_out, a) + l1_loss(b_out, b)


@dataclasses.dataclass(frozen=True)
class CycleGANGame:
    image_shape: tuple[int, ...]
    objective: losses.Objective = losses.get_objective('lsgan')
    cycle_weight: float = 10.0
    identity_weight: float = 0.5  # of cycle_weight
    pool: ImagePool = ImagePool()
    feature_matching_weight: float = 0.0  # pix2pixHD's lambda_feat, on batch means (unpaired); 0: off
    d_loss_scale: float = 0.5

    input_source = 'data'
    preview_split = 'test'
    # G: a -> b, F: b -> a; the reference domain's labels say where outputs should land.
    directions = types.MappingProxyType({
        'a2b': Direction('a', 'b', paired=False, label='b_label', inverse='b2a'),
        'b2a': Direction('b', 'a', paired=False, label='a_label', inverse='a2b')})

    def example_inputs(self, spec: DatasetSpec) -> tuple[Inputs, Inputs]:
        x = jnp.zeros((1, *spec.shape))
        return {'a': x, 'b': x}, {'a': x, 'b': x}

    def generator_inputs(self, batch: Batch, key: jax.Array) -> Inputs:
        del key
        return {'a': batch['a'], 'b': batch['b']}

    def init_game_state(self, state: GANState, key: jax.Array) -> Any:
        del state, key
        return {f'pool_{d}': self.pool.init(self.image_shape) for d in DOMAINS}

    def d_loss(self, d_params: Any, state: GANState, batch: Batch, key: jax.Array) -> tuple[jax.Array, Aux]:
        fakes, _ = generate(state, state.generator.params, drawn_inputs(self, batch, key))
        fakes = jax.lax.stop_gradient(fakes)
        pools, judged = {}, {}
        for i, d in enumerate(DOMAINS):
            judged[d], pools[f'pool_{d}'] = self.pool.query(state.game_state[f'pool_{d}'], fakes[d],
                                                           jax.random.fold_in(key, i))
        # Real and fake batches pass separately, so a batch-norm D never mixes their statistics.
        real_logits, model_state = discriminate(state, d_params, state.discriminator.model_state,
                                                {d: batch[d] for d in DOMAINS})
        fake_logits, model_state = discriminate(state, d_params, model_state, judged)
        per_domain = {d: multiscale.d_loss(self.objective, real_logits[d], fake_logits[d]) for d in DOMAINS}
        loss = self.d_loss_scale * (per_domain['a'] + per_domain['b'])
        metrics = {'d_loss': loss, 'd_a_loss': per_domain['a'], 'd_b_loss': per_domain['b']}
        return loss, Aux(metrics, model_state, {**state.game_state, **pools})

    def g_loss(self, g_params: Any, state: GANState, batch: Batch, key: jax.Array) -> tuple[jax.Array, Aux]:
        a, b = batch['a'], batch['b']
        g = state.generator
        fakes, g_state = generate(state, g_params, drawn_inputs(self, batch, key))  # {'b': G(a), 'a': F(b)}
        # net(a=F(b), b=G(a)) = {'b': G(F(b)), 'a': F(G(a))}: both cycles in one pass.
        back, g_state = g.apply({'a': fakes['a'], 'b': fakes['b']}, params=g_params, model_state=g_state)
        cycle = two_way_l1(a, b, back['a'], back['b'])
        d = state.discriminator
        # D's statistics from these passes are dropped: only D's own update moves them.
        matching = bool(self.feature_matching_weight)
        judged, _ = discriminate(state, d.params, d.model_state, fakes, features=matching)
        metrics = {}
        if matching:
            real, _ = discriminate(state, d.params, d.model_state, {x: batch[x] for x in DOMAINS}, features=True)
            logits, fake_features = {}, {}
            for x in DOMAINS:
                logits[x], fake_features[x] = multiscale.split_features(judged[x])
            metrics['g_feature_matching'] = sum(
                multiscale.feature_matching_loss(multiscale.split_features(real[x])[1], fake_features[x],
                                                 paired=False) for x in DOMAINS)
        else:
            logits = judged
        adversarial = multiscale.g_loss(self.objective, logits['a']) + multiscale.g_loss(self.objective, logits['b'])
        loss = adversarial + self.cycle_weight * cycle
        if matching:
            loss = loss + self.feature_matching_weight * metrics['g_feature_matching']
        metrics.update({'g_adversarial_loss': adversarial, 'g_cycle_l1': cycle})
        if self.identity_weight:
            # net(a=b, b=a) = {'b': G(b), 'a': F(a)}.
            same, g_state = g.apply({'a': b, 'b': a}, params=g_params, model_state=g_state)
            identity = two_way_l1(a, b, same['a'], same['b'])
            loss = loss + self.identity_weight * self.cycle_weight * identity
            metrics['g_identity_l1'] = identity
        return loss, Aux({'g_loss': loss, **metrics}, g_state, state.game_state)

    def translation_inputs(self, direction: str, images: jax.Array, key: jax.Array) -> Inputs:
        del key
        return {self.directions[direction].source: images}  # CycleGenerators(a=x) is {'b': G(x)}

    def translation_outputs(self, direction: str, outputs: Any) -> jax.Array:
        return outputs[self.directions[direction].reference]

    def preview_size(self, grid_size: int) -> int:
        return grid_size  # one column per example: a | G(a) | b | F(b)

    def preview_inputs(self, key: jax.Array, num: int, heldout: Batch | None) -> Inputs:
        del key
        if heldout is None:
            raise ValueError('CycleGAN previews translations of held-out examples: pass a batch of the test split')
        return {'a': heldout['a'][:num], 'b': heldout['b'][:num]}

    def preview_grid(self, inputs: Inputs, outputs: Any, heldout: Batch | None) -> tuple[Any, int]:
        del heldout
        return jnp.concatenate([inputs['a'], outputs['b'], inputs['b'], outputs['a']]), inputs['a'].shape[0]

    def check_step(self, *, micro_batches: int, d_steps: int) -> None:
        del d_steps
        if micro_batches > 1:
            raise ValueError('game cyclegan takes no micro-batches: its image pools would advance once per slice')


def default_config() -> ml_collections.ConfigDict:
    section = objective_config(ml_collections.ConfigDict(), loss='lsgan')
    section.cycle_weight = 10.0  # lambda
    section.identity_weight = 0.5  # x lambda; 0: no identity loss
    section.pool_size = 50  # past fakes per domain D sees from; 0: the newest fakes only
    section.pool_probability = 0.5  # of swapping a fresh fake for a stored one
    section.feature_matching_weight = 0.0  # pix2pixHD's lambda_feat (10), batch means of D's features; 0: off
    return section


def build(config: ml_collections.ConfigDict, spec: DatasetSpec) -> GameSetup:
    section = config.cyclegan
    if spec.kind != 'unpaired':
        raise ValueError(f'game cyclegan needs an unpaired dataset (batches of domains a and b); {spec.name!r} is a '
                         f'dataset of kind {spec.kind!r}. Unpaired datasets: fashion_sneaker2boot, cycle_gan/*')
    objective = penalty_free_objective(section, 'cyclegan')
    weights = {name: section[name] for name in ('cycle_weight', 'identity_weight', 'feature_matching_weight')}
    if min(weights.values()) < 0:
        raise ValueError(f'cyclegan weights must be >= 0, got {weights}')
    # An empty pool: one of size 1 with probability 0 passes every fake through.
    pool = ImagePool(section.pool_size, section.pool_probability) if section.pool_size else ImagePool(1, 0.0)
    generator, discriminator = models.build_models(config, spec.shape)
    game = CycleGANGame(image_shape=spec.shape, objective=objective, cycle_weight=section.cycle_weight,
                        identity_weight=section.identity_weight, pool=pool,
                        feature_matching_weight=section.feature_matching_weight)
    return GameSetup(game, generator, discriminator, d_weight_clip=objective.weight_clip)
