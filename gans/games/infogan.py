"""InfoGAN (Chen et al. 2016): unsupervised codes that G must keep recoverable from its images.

G(z, c) takes a categorical code c ~ U{0..K-1} (`codes`) and continuous codes c' ~ U(-1, 1)^m
(`continuous_codes`) beside z (`gans.models.conditional.InfoGenerator`). The mutual information
I(c; G(z, c)) is bounded below with an approximate posterior Q(c | x), a head on D's trunk
(`InfoDiscriminator`, so Q's parameters are part of D's):

    I(c; x) >= H(c) + E log Q(c | x) = L_I.

- categorical: H(c) = log K, and E log Q(c | x) is minus the cross-entropy of Q's logits against
  the code, so L_I = log K - CE <= log K, with equality when Q recovers the code exactly;
- continuous: Q(c'_j | x) = N(c'_j; mu_j(x), 1) (the mean is learned, the variance fixed), and
  H(U(-1, 1)) = log 2, so per code L_I = log 2 - 1/2 log(2 pi) - 1/2 E (c'_j - mu_j)^2.

The game is min_{G,Q} max_D V(D, G) - lambda L_I: D (with Q) minimises its adversarial loss
(any objective of `gans.losses`) minus lambda (L_cat + continuous_weight * L_cont) on its fake
batch; G minimises its adversarial loss minus the same term on its fakes. No labels are read.
Config section `infogan` (`default_config`).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

from gans import losses, models
from gans.data import DatasetSpec
from gans.engine.state import GANState
from gans.games.base import Aux, Batch, GameSetup, Metrics, NoiseGame, discriminate, drawn_inputs, generate, objective_config
from gans.games.conditional import adversarial_fields, penalties
from gans.models import conditional as conditional_models

# Entropy of one continuous code, U(-1, 1): log of the interval's length.
CONTINUOUS_CODE_ENTROPY = math.log(2.0)


def categorical_information_bound(code_logits: jax.Array, codes: jax.Array) -> jax.Array:
    """H(c) - CE(Q(.|x), c) for c uniform over the logits' K categories: a lower bound on I(c; x)."""
    num_categories = code_logits.shape[-1]
    cross_entropy = optax.softmax_cross_entropy_with_integer_labels(code_logits, codes).mean()
    return math.log(num_categories) - cross_entropy


def gaussian_information_bound(means: jax.Array, codes: jax.Array,
                               code_entropy: float = CONTINUOUS_CODE_ENTROPY) -> jax.Array:
    """sum_j [H(c_j) + E log N(c_j; mu_j, 1)]: a lower bound on I(c; x) for codes [N, m] with
    independent entries of entropy `code_entropy` and Q's unit-variance Gaussian means [N, m]."""
    log_likelihood = -0.5 * (jnp.square(codes - means) + math.log(2 * math.pi))
    return jnp.sum(code_entropy + log_likelihood.mean(axis=0))


@dataclasses.dataclass(frozen=True)
class InfoGANGame(NoiseGame):
    num_categories: int = 10
    num_continuous: int = 0
    info_weight: float = 1.0  # lambda
    continuous_weight: float = 1.0  # of the continuous codes' bound, relative to the categorical one
    objective: losses.Objective = losses.get_objective('nonsaturating')
    gradient_penalty_weight: float = 0.0
    r1_weight: float = 0.0

    def sample_latents(self, key: jax.Array, num: int) -> dict[str, jax.Array]:
        z_key, code_key, continuous_key = jax.random.split(key, 3)
        latents = {'z': jax.random.normal(z_key, (num, self.latent_dim)),
                   'codes': jax.random.randint(code_key, (num,), 0, self.num_categories, jnp.int32)}
        if self.num_continuous:
            latents['continuous_codes'] = jax.random.uniform(continuous_key, (num, self.num_continuous),
                                                             minval=-1.0, maxval=1.0)
        return latents

    def categorical_inputs(self) -> dict[str, int]:
        return {'codes': self.num_categories}

    def information(self, code_logits: jax.Array, means: jax.Array,
                    latents: dict[str, jax.Array]) -> tuple[jax.Array, Metrics]:
        """lambda (L_cat + continuous_weight L_cont) for Q's outputs on fakes made from `latents`."""
        categorical = categorical_information_bound(code_logits, latents['codes'])
        metrics = {'info_categorical': categorical,
                   'q_code_accuracy': (code_logits.argmax(-1) == latents['codes']).mean()}
        total = categorical
        if self.num_continuous:
            continuous = gaussian_information_bound(means, latents['continuous_codes'])
            metrics['info_continuous'] = continuous
            total = total + self.continuous_weight * continuous
        return self.info_weight * total, metrics

    def d_loss(self, d_params: Any, state: GANState, batch: Batch, key: jax.Array) -> tuple[jax.Array, Aux]:
        real = batch['x']
        z_key, penalty_key = jax.random.split(key)
        latents = drawn_inputs(self, batch, z_key)
        fake = jax.lax.stop_gradient(generate(state, state.generator.params, latents)[0])
        (real_logits, _, _), model_state = discriminate(state, d_params, state.discriminator.model_state, real)
        (fake_logits, code_logits, means), model_state = discriminate(state, d_params, model_state, fake)
        adversarial = self.objective.d_loss(real_logits, fake_logits)
        information, info_metrics = self.information(code_logits, means, latents)
        critic = lambda x: discriminate(state, d_params, model_state, x)[0][0]
        penalty, penalty_metrics = penalties(critic, real, fake, penalty_key,
                                             self.gradient_penalty_weight, self.r1_weight)
        loss = adversarial - information + penalty
        metrics = {'d_loss': loss, 'd_adversarial_loss': adversarial, 'd_real_logit': real_logits.mean(),
                   'd_fake_logit': fake_logits.mean(), **info_metrics, **penalty_metrics}
        return loss, Aux(metrics, model_state, state.game_state)

    def g_loss(self, g_params: Any, state: GANState, batch: Batch, key: jax.Array) -> tuple[jax.Array, Aux]:
        latents = drawn_inputs(self, batch, key)
        fake, g_state = generate(state, g_params, latents)
        d = state.discriminator
        (fake_logits, code_logits, means), _ = discriminate(state, d.params, d.model_state, fake)
        adversarial = self.objective.g_loss(fake_logits)
        information, _ = self.information(code_logits, means, latents)
        loss = adversarial - information
        return loss, Aux({'g_loss': loss, 'g_adversarial_loss': adversarial}, g_state, state.game_state)


def default_config() -> ml_collections.ConfigDict:
    section = objective_config(ml_collections.ConfigDict())
    section.latent_dim = 64
    section.categorical = 10  # categories of the categorical code
    section.continuous = 2  # continuous codes ~ U(-1, 1); 0: none
    section.info_weight = 1.0  # lambda, weight of the mutual-information bound
    section.continuous_weight = 0.1  # continuous codes' bound relative to the categorical one
    return section


def build(config: ml_collections.ConfigDict, spec: DatasetSpec) -> GameSetup:
    fields, section = adversarial_fields(config, 'infogan'), config.infogan
    categories, continuous = section.categorical, section.continuous
    if not isinstance(categories, int) or categories < 2:
        raise ValueError(f'infogan.categorical must be an integer >= 2, got {categories!r}')
    if not isinstance(continuous, int) or continuous < 0:
        raise ValueError(f'infogan.continuous must be a non-negative integer, got {continuous!r}')
    generator, discriminator = models.build_models(config, spec.shape)
    game = InfoGANGame(num_categories=categories, num_continuous=continuous, info_weight=section.info_weight,
                       continuous_weight=section.continuous_weight, **fields)
    return GameSetup(game, conditional_models.InfoGenerator(generator, categories, continuous),
                     conditional_models.InfoDiscriminator(discriminator, categories, continuous))
