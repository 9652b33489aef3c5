"""pix2pix (Isola et al. 2017): paired image-to-image translation with a conditional GAN and L1.

G maps a source image to a target image (a U-Net, `gans.models.unet`; its only noise is
dropout, kept on at test time); D judges (source, image) pairs patch by patch (a PatchGAN,
`gans.models.patchgan`). With D's logits on pairs and the objective's losses (the paper's is
the non-saturating BCE):

    L_D = 1/2 [ l_D(D(s, t), D(s, G(s))) ]          (halved, as in the paper, to slow D)
    L_G = gan_weight * l_G(D(s, G(s))) + l1_weight * E |t - G(s)|_1
          [+ feature_matching_weight * L_FM(D; (s, t), (s, G(s)))]

l1_weight = 100 and gan_weight = 1 are the paper's; gan_weight = 0 is its "L1 only" ablation and
l1_weight = 0 its "cGAN only". Batches come from a paired dataset ({'source', 'target'},
e.g. `fashion_edges`). pix2pixHD's pieces (Wang et al. 2018) switch on from the config: several
discriminators at halved scales (`discriminator.num_scales`, the adversarial terms summed over
them) and discriminator feature matching (`feature_matching_weight`, the paper's 10), both in
`gans.games.multiscale`. Config section `pix2pix` (`default_config`).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from gans import losses, models
from gans.data import DatasetSpec
from gans.engine.state import GANState
from gans.games import multiscale
from gans.games.base import (Aux, Batch, GameSetup, TranslationGame, discriminate, drawn_inputs, generate,
                             objective_config, penalty_free_objective)

# The U-Net's dropout draws from this Flax rng stream, in training and at test time.
RNG_STREAMS = ('dropout',)


def l1_loss(output: jax.Array, target: jax.Array) -> jax.Array:
    """Mean absolute error over every pixel of the batch."""
    return jnp.mean(jnp.abs(output - target))


@dataclasses.dataclass(frozen=True)
class Pix2PixGame(TranslationGame):
    objective: losses.Objective = losses.get_objective('nonsaturating')
    l1_weight: float = 100.0
    gan_weight: float = 1.0
    feature_matching_weight: float = 0.0  # pix2pixHD's lambda_feat (10); 0: off
    d_loss_scale: float = 0.5

    def d_loss(self, d_params: Any, state: GANState, batch: Batch, key: jax.Array) -> tuple[jax.Array, Aux]:
        source, target = batch[self.source_key], batch[self.target_key]
        fake, _ = generate(state, state.generator.params, drawn_inputs(self, batch, key), key)
        fake = jax.lax.stop_gradient(fake)
        # Real and fake pairs pass separately, so batch norm never mixes their statistics.
        real_logits, model_state = discriminate(state, d_params, state.discriminator.model_state,
                                                {'source': source, 'image': target})
        fake_logits, model_state = discriminate(state, d_params, model_state, {'source': source, 'image': fake})
        adversarial = multiscale.d_loss(self.objective, real_logits, fake_logits)
        metrics = {'d_loss': adversarial, 'd_real_logit': multiscale.mean_logit(real_logits),
                   'd_fake_logit': multiscale.mean_logit(fake_logits)}
        return self.d_loss_scale * adversarial, Aux(metrics, model_state, state.game_state)

    def g_loss(self, g_params: Any, state: GANState, batch: Batch, key: jax.Array) -> tuple[jax.Array, Aux]:
        source, target = batch[self.source_key], batch[self.target_key]
        fake, g_state = generate(state, g_params, drawn_inputs(self, batch, key), key)
        d = state.discriminator
        # D's statistics from this pass are dropped: only D's own update moves them.
        judge = functools.partial(discriminate, state, d.params, d.model_state,
                                  features=bool(self.feature_matching_weight))
        fake_out, _ = judge({'source': source, 'image': fake})
        metrics = {}
        if self.feature_matching_weight:
            fake_logits, fake_features = multiscale.split_features(fake_out)
            _, real_features = multiscale.split_features(judge({'source': source, 'image': target})[0])
            metrics['g_feature_matching'] = multiscale.feature_matching_loss(real_features, fake_features)
        else:
            fake_logits = fake_out
        adversarial = multiscale.g_loss(self.objective, fake_logits)
        l1 = l1_loss(fake, target)
        loss = self.gan_weight * adversarial + self.l1_weight * l1
        if self.feature_matching_weight:
            loss = loss + self.feature_matching_weight * metrics['g_feature_matching']
        metrics.update({'g_loss': loss, 'g_adversarial_loss': adversarial, 'g_l1': l1})
        return loss, Aux(metrics, g_state, state.game_state)


def default_config() -> ml_collections.ConfigDict:
    section = objective_config(ml_collections.ConfigDict())
    section.l1_weight = 100.0  # lambda_L1; 0: cGAN only
    section.gan_weight = 1.0  # weight of the adversarial term in G's loss; 0: L1 only
    section.feature_matching_weight = 0.0  # pix2pixHD's lambda_feat (10); 0: off
    return section


def build(config: ml_collections.ConfigDict, spec: DatasetSpec) -> GameSetup:
    section = config.pix2pix
    if spec.kind != 'paired':
        raise ValueError(f'game pix2pix needs a paired dataset (batches of source and target images); '
                         f'{spec.name!r} is a dataset of kind {spec.kind!r}. Paired datasets: fashion_edges')
    objective = penalty_free_objective(section, 'pix2pix')
    if min(section.l1_weight, section.gan_weight, section.feature_matching_weight) < 0:
        raise ValueError(f'pix2pix.l1_weight, gan_weight and feature_matching_weight must be >= 0, got '
                         f'{section.l1_weight}, {section.gan_weight}, {section.feature_matching_weight}')
    generator, discriminator = models.build_models(config, spec.shape)
    game = Pix2PixGame(objective=objective, l1_weight=section.l1_weight, gan_weight=section.gan_weight,
                       feature_matching_weight=section.feature_matching_weight)
    return GameSetup(game, generator, discriminator, d_weight_clip=objective.weight_clip, g_rng_streams=RNG_STREAMS)
