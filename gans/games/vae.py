"""The VAE family as games of the engine: 'vae', beta-VAE (via config), 'cvae' and 'vaegan'.

The generator player is a whole `gans.models.vae.VAE` (encoder and decoder; calling it decodes
prior samples, so sample grids and `gans sample` draw from p(z) = N(0, I)).

- `vae` (Kingma & Welling 2014) and beta-VAE (Higgins et al. 2017): the generator minimises
  mean_batch[-log p(x|z) + beta_t KL(q(z|x) || p(z))], one reparameterised z per image, with
  beta_t from `gans.elbo.beta_schedule` (config `vae.beta`, `vae.beta_warmup_steps`; beta = 1
  and no warm-up is the negative ELBO). The discriminator slot holds `IdleDiscriminator`, which
  has no parameters: D's loss is the constant 0, so the engine's D update changes nothing.
- `cvae` (Sohn et al. 2015): the same with labels into encoder and decoder; its generator input
  is {'z', 'labels'} with uniform labels, so `gans sample` writes `labels` beside the images.
- `vaegan` (Larsen et al. 2016): the decoder is also the GAN generator, and the reconstruction
  error is measured in D's feature space (DCGAN's last 4x4 map, `return_features=True`) as a
  unit-variance Gaussian: L_feat = 1/2 ||f(x) - f(x~)||^2 per image, x~ = Dec(z), z ~ q(z|x).
  D (objective `config.vaegan.loss`) sees real images against reconstructions and prior samples
  Dec(z_p), z_p ~ N(0, I), both as fakes (one fake batch of 2B). As in the paper the two parts
  get different losses: encoder beta_t KL + L_feat; decoder gamma L_feat + L_GAN, with L_GAN
  the objective's generator loss on the reconstructions plus that on the prior samples. Both
  are taken in one player by per-part gradients: the generator's scalar loss is
      mean[beta_t KL + L_feat(x~ from a decoder with stopped gradients)]
        + gamma mean[L_feat(x~ from stopped z)] + L_GAN(x~ from stopped z, Dec(z_p)),
  whose gradient is the encoder loss's in the encoder parameters and the decoder loss's in the
  decoder parameters (the decoder runs twice on the same z; tests check the equality).

Metrics: `elbo` (nats per image, pixel space, one posterior sample; for vaegan the pixel
decoder is not what it trains, so there it is only a diagnostic), `kl`, `reconstruction`
(-log p(x|z), nats), `beta`; vaegan adds `feature_reconstruction` and D's logits.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from gans import elbo, losses, models
from gans.data import DatasetSpec
from gans.engine.state import GANState
from gans.games.base import (Aux, GameSetup, Metrics, NoiseGame, check_plain_discriminator, discriminate,
                             drawn_inputs, objective_config)
from gans.models import vae as vae_models

Batch = dict[str, Any]
VAE_GAMES = ('vae', 'cvae', 'vaegan')
VAE_MODELS = ('dcgan', 'mlp')
# The part of the VAE's parameters that is the encoder; everything else (decoder, a learned
# Gaussian scale) is the decoder's.
ENCODER = 'encoder'


class BoundTerms(NamedTuple):
    """One batch's posterior and bound terms, per example ([N]) or per posterior sample ([K, N])."""
    mean: jax.Array  # [N, latent]
    log_var: jax.Array  # [N, latent]
    z: jax.Array  # [K, N, latent]
    log_likelihood: jax.Array  # [K, N]: log p(x|z_k)
    kl: jax.Array  # [N]
    outputs: jax.Array  # [K, N, ...]: the decoder's raw outputs


def _apply(module: nn.Module, params: Any, *args, method: str):
    return module.apply({'params': params}, *args, method=method)


def bound_terms(module: nn.Module, params: Any, x: jax.Array, labels: jax.Array | None, key: jax.Array,
                num_samples: int = 1) -> BoundTerms:
    """Encodes x, draws `num_samples` reparameterised z per image and decodes them."""
    mean, log_var = _apply(module, params, x, labels, method='encode')
    log_scale = _apply(module, params, method='log_scale')

    def one_sample(sample_key):
        z = elbo.reparameterize(sample_key, mean, log_var)
        out = _apply(module, params, z, labels, method='decode')
        return z, out, elbo.log_likelihood(module.decoder_kind, out, x, log_scale)

    z, outputs, log_likelihood = jax.vmap(one_sample)(jax.random.split(key, num_samples))
    return BoundTerms(mean, log_var, z, log_likelihood, elbo.gaussian_kl(mean, log_var), outputs)


def _labels(batch: Batch, num_classes: int) -> jax.Array | None:
    if not num_classes:
        return None
    if 'label' not in batch:
        raise ValueError(f'a conditional VAE needs a labeled dataset: its batches have no `label` '
                         f'(keys: {sorted(batch)})')
    return batch['label'].astype(jnp.int32)


def _bound_metrics(terms: BoundTerms, beta: jax.Array) -> Metrics:
    log_likelihood = terms.log_likelihood.mean(axis=0)
    return {'elbo': jnp.mean(elbo.elbo(log_likelihood, terms.kl)), 'kl': terms.kl.mean(),
            'reconstruction': -log_likelihood.mean(), 'beta': beta}


@dataclasses.dataclass(frozen=True)
class VAEGame(NoiseGame):
    """The plain VAE (beta = 1), beta-VAE (beta != 1 or warm-up) and, with num_classes > 0, the CVAE."""
    beta: float = 1.0
    beta_warmup_steps: int = 0
    num_classes: int = 0

    def __post_init__(self):
        if self.beta < 0:
            raise ValueError(f'beta must be >= 0, got {self.beta}')
        elbo.beta_schedule(0, self.beta, self.beta_warmup_steps)  # checks the warm-up

    def sample_latents(self, key: jax.Array, num: int) -> jax.Array | dict[str, jax.Array]:
        """z ~ N(0, I); for the CVAE {'z', 'labels'} with labels uniform over the classes."""
        z_key, label_key = jax.random.split(key)
        z = jax.random.normal(z_key, (num, self.latent_dim))
        if not self.num_classes:
            return z
        return {'z': z, 'labels': jax.random.randint(label_key, (num,), 0, self.num_classes, jnp.int32)}

    def categorical_inputs(self) -> dict[str, int]:
        return {'labels': self.num_classes} if self.num_classes else {}

    def generator_inputs(self, batch: Batch, key: jax.Array) -> Any:
        # The VAE's loss encodes the batch itself: no prior samples are used in training.
        del batch, key
        return {}

    def check_step(self, *, micro_batches: int, d_steps: int) -> None:
        del micro_batches
        if d_steps != 1:
            raise ValueError(f'a VAE has no discriminator to step: optim.d_steps must be 1, got {d_steps}')

    def d_loss(self, d_params: Any, state: GANState, batch: Batch, key: jax.Array) -> tuple[jax.Array, Aux]:
        """The idle discriminator's loss: 0 (it has no parameters to move)."""
        del d_params, batch, key
        return jnp.zeros(()), Aux({}, state.discriminator.model_state, state.game_state)

    def g_loss(self, g_params: Any, state: GANState, batch: Batch, key: jax.Array) -> tuple[jax.Array, Aux]:
        """mean_batch[-log p(x|z) + beta_t KL]: the negative ELBO when beta_t = 1."""
        terms = bound_terms(state.generator.network, g_params, batch['x'], _labels(batch, self.num_classes), key)
        beta = elbo.beta_schedule(state.step, self.beta, self.beta_warmup_steps)
        loss = jnp.mean(-terms.log_likelihood[0] + beta * terms.kl)
        return loss, Aux({'g_loss': loss, **_bound_metrics(terms, beta)}, state.generator.model_state,
                         state.game_state)


def _with_stopped_gradients(params: dict, keep_encoder: bool) -> dict:
    """The VAE's parameters with gradients stopped everywhere but the encoder (or but the decoder)."""
    return {name: value if (name == ENCODER) == keep_encoder else jax.lax.stop_gradient(value)
            for name, value in params.items()}


def feature_reconstruction(real_features: jax.Array, fake_features: jax.Array) -> jax.Array:
    """-log N(f(x); f(x~), I) per image, constant dropped: 1/2 ||f(x) - f(x~)||^2."""
    return 0.5 * jnp.sum(jnp.square(real_features - fake_features), axis=-1)


@dataclasses.dataclass(frozen=True)
class VAEGANGame(NoiseGame):
    """VAE-GAN (Larsen et al. 2016); see the module docstring for the losses."""
    objective: losses.Objective = losses.get_objective('nonsaturating')
    gamma: float = 1.0
    beta: float = 1.0
    beta_warmup_steps: int = 0

    def __post_init__(self):
        if self.objective.weight_clip is not None or self.objective.gradient_penalty_weight:
            valid = [name for name, o in losses.OBJECTIVES.items()
                     if o.weight_clip is None and not o.gradient_penalty_weight]
            raise ValueError(f'game vaegan takes losses without weight clipping or gradient penalty; '
                             f'got {self.objective.name!r}, valid: {valid}')
        if self.gamma < 0 or self.beta < 0:
            raise ValueError(f'vaegan.gamma and vaegan.beta must be >= 0, got {self.gamma}, {self.beta}')
        elbo.beta_schedule(0, self.beta, self.beta_warmup_steps)

    def d_loss(self, d_params: Any, state: GANState, batch: Batch, key: jax.Array) -> tuple[jax.Array, Aux]:
        """D's objective with the real batch against reconstructions and prior samples as fakes."""
        module, g_params = state.generator.network, jax.lax.stop_gradient(state.generator.params)
        posterior_key, prior_key = jax.random.split(key)
        terms = bound_terms(module, g_params, batch['x'], None, posterior_key)
        recon = elbo.decoder_mean(module.decoder_kind, terms.outputs[0])
        prior = module.apply({'params': g_params}, drawn_inputs(self, batch, prior_key))
        # Three passes, as in the GAN game: batch norm never mixes real and fake statistics.
        judge = functools.partial(discriminate, state, d_params, return_features=True)
        (real_logits, _), stats = judge(state.discriminator.model_state, batch['x'])
        (recon_logits, _), stats = judge(stats, recon)
        (prior_logits, _), stats = judge(stats, prior)
        loss = self.objective.d_loss(real_logits, jnp.concatenate([recon_logits, prior_logits]))
        metrics = {'d_loss': loss, 'd_real_logit': real_logits.mean(), 'd_recon_logit': recon_logits.mean(),
                   'd_prior_logit': prior_logits.mean()}
        return loss, Aux(metrics, stats, state.game_state)

    def g_loss(self, g_params: Any, state: GANState, batch: Batch, key: jax.Array) -> tuple[jax.Array, Aux]:
        """The per-part surrogate: encoder gradient of beta KL + L_feat, decoder gradient of
        gamma L_feat + L_GAN (module docstring)."""
        module, x = state.generator.network, batch['x']
        posterior_key, prior_key = jax.random.split(key)
        encoder_view = _with_stopped_gradients(g_params, keep_encoder=True)
        decoder_view = _with_stopped_gradients(g_params, keep_encoder=False)
        terms = bound_terms(module, encoder_view, x, None, posterior_key)
        z = terms.z[0]

        def image(params, latents):
            return module.apply({'params': params}, latents, method='decode')

        to_image = lambda out: elbo.decoder_mean(module.decoder_kind, out)
        recon_for_decoder = to_image(image(decoder_view, jax.lax.stop_gradient(z)))
        prior = to_image(image(decoder_view, drawn_inputs(self, batch, prior_key)))
        # D's statistics from these passes are dropped: only D's own update moves them.
        d = state.discriminator
        judge = lambda images: discriminate(state, d.params, d.model_state, images, return_features=True)[0]
        real_features = jax.lax.stop_gradient(judge(x)[1])
        _, encoder_features = judge(to_image(terms.outputs[0]))
        decoder_logits, decoder_features = judge(recon_for_decoder)
        prior_logits, _ = judge(prior)

        encoder_feature_loss = feature_reconstruction(real_features, encoder_features)
        decoder_feature_loss = feature_reconstruction(real_features, decoder_features)
        gan_loss = self.objective.g_loss(decoder_logits) + self.objective.g_loss(prior_logits)
        beta = elbo.beta_schedule(state.step, self.beta, self.beta_warmup_steps)
        loss = (jnp.mean(beta * terms.kl + encoder_feature_loss) + self.gamma * jnp.mean(decoder_feature_loss)
                + gan_loss)
        metrics = {'g_loss': loss, 'gan_loss': gan_loss, 'feature_reconstruction': encoder_feature_loss.mean(),
                   **jax.lax.stop_gradient(_bound_metrics(terms, beta))}
        return loss, Aux(metrics, state.generator.model_state, state.game_state)


VAEFamilyGame = VAEGame | VAEGANGame


def _vae_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({
        'latent_dim': 64,
        'beta': 1.0,  # weight of the KL; 1: the ELBO, > 1: beta-VAE
        'beta_warmup_steps': 0,  # beta rises linearly from 0 over these steps; 0: constant
        'decoder': 'bernoulli',  # p(x|z): 'bernoulli' (on grey levels (x+1)/2) | 'gaussian'
        'gaussian_scale': ml_collections.config_dict.placeholder(float),  # the gaussian's std; None: learned
        'width': 32,  # channels of the conv encoder's first / decoder's last hidden map (model dcgan)
    })


def vae_config() -> ml_collections.ConfigDict:
    return _vae_config()


def cvae_config() -> ml_collections.ConfigDict:
    section = _vae_config()
    section.num_classes = ml_collections.config_dict.placeholder(int)  # None: the dataset's
    return section


def vaegan_config() -> ml_collections.ConfigDict:
    section = objective_config(_vae_config())
    section.gamma = 1.0  # weight of the feature reconstruction in the decoder's loss
    return section


def _num_classes(config: ml_collections.ConfigDict, spec: DatasetSpec) -> int:
    """config.cvae.num_classes when set, else the dataset's number of labels."""
    num = config.cvae.num_classes
    if num is not None and spec.num_classes is not None and num != spec.num_classes:
        raise ValueError(f'config.cvae.num_classes is {num} but dataset {spec.name!r} has {spec.num_classes} classes')
    num = spec.num_classes if num is None else num
    if not isinstance(num, int) or num < 2:
        raise ValueError(f'game cvae needs a labeled dataset or config.cvae.num_classes >= 2; got {num!r}')
    return num


def build_vae(config: ml_collections.ConfigDict, data_shape: tuple[int, ...], num_classes: int = 0,
              section: ml_collections.ConfigDict | None = None) -> vae_models.VAE:
    """The VAE network of `config.model` ('dcgan': convolutional, 'mlp') for examples of `data_shape`,
    sized by the game's config section (default `config[config.game]`)."""
    section = config[config.game] if section is None else section
    latent, decoder_kind = section.latent_dim, section.decoder
    elbo.check_decoder(decoder_kind)
    if config.model == 'dcgan':
        if len(data_shape) != 3 or data_shape[0] != data_shape[1]:
            raise ValueError(f'the convolutional VAE needs square images [H, W, C], got examples of shape {data_shape}')
        size, channels, ops = data_shape[0], data_shape[2], models.layers(config)
        width = section.width
        encoder = vae_models.ConvEncoder(latent, size, channels, width, num_classes, conv=ops.conv)
        decoder = vae_models.ConvDecoder(size, channels, width, num_classes, conv_transpose=ops.conv_transpose)
    elif config.model == 'mlp':
        hidden = tuple(config.generator.hidden)
        encoder = vae_models.MLPEncoder(data_shape, latent, hidden, num_classes)
        decoder = vae_models.MLPDecoder(data_shape, hidden, num_classes)
    else:
        raise ValueError(f'unknown model {config.model!r} for the VAE games; valid models: {list(VAE_MODELS)}')
    return vae_models.VAE(encoder, decoder, tuple(data_shape), decoder_kind, section.gaussian_scale)


def _check_beta(section: ml_collections.ConfigDict) -> tuple[float, int]:
    return float(section.beta), section.beta_warmup_steps


def build_vae_game(config: ml_collections.ConfigDict, spec: DatasetSpec) -> GameSetup:
    check_plain_discriminator(config, 'vae')
    beta, warmup = _check_beta(config.vae)
    game = VAEGame(config.vae.latent_dim, beta=beta, beta_warmup_steps=warmup)
    return GameSetup(game, build_vae(config, spec.shape), vae_models.IdleDiscriminator())


def build_cvae_game(config: ml_collections.ConfigDict, spec: DatasetSpec) -> GameSetup:
    check_plain_discriminator(config, 'cvae')
    beta, warmup = _check_beta(config.cvae)
    num_classes = _num_classes(config, spec)
    game = VAEGame(config.cvae.latent_dim, beta=beta, beta_warmup_steps=warmup, num_classes=num_classes)
    return GameSetup(game, build_vae(config, spec.shape, num_classes), vae_models.IdleDiscriminator())


def build_vaegan_game(config: ml_collections.ConfigDict, spec: DatasetSpec) -> GameSetup:
    check_plain_discriminator(config, 'vaegan')
    section = config.vaegan
    beta, warmup = _check_beta(section)
    _, discriminator = models.build_models(config, spec.shape)
    game = VAEGANGame(section.latent_dim, objective=losses.get_objective(section.loss), gamma=section.gamma,
                      beta=beta, beta_warmup_steps=warmup)
    return GameSetup(game, build_vae(config, spec.shape), discriminator)
