"""The variational bound of a VAE, term by term, in nats (Kingma & Welling 2014).

For an encoder q(z|x) = N(mean, diag(exp(log_var))), the prior p(z) = N(0, I) and a decoder
p(x|z), the evidence lower bound of one image is

    ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)) <= log p(x),

with the expectation estimated by reparameterised samples z = mean + exp(log_var / 2) * eps,
eps ~ N(0, I), and the KL in closed form. beta-VAE weights the KL: the trained loss is
-E_q[log p(x|z)] + beta * KL (Higgins et al. 2017); the ELBO itself always has beta = 1.

Decoder likelihoods, summed over pixels (images are float NHWC in [-1, 1]):

- 'bernoulli': the decoder outputs logits l; the targets are the grey levels t = (x + 1) / 2 in
  [0, 1], and log p(x|z) = sum t log sigmoid(l) + (1 - t) log sigmoid(-l). For binary t this is
  the Bernoulli log-probability; for grey levels it is the usual cross-entropy "likelihood",
  which is not normalised over [0, 1] (so its ELBO is not a bound on a density of grey images).
- 'gaussian': the decoder outputs the mean in [-1, 1] space, with a fixed or learned scale;
  log p(x|z) = sum log N(x; mean, scale^2), a proper density on R^D.

Every function returns one value per example (the sums over latent or pixel axes); means over
a batch are the caller's.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

DECODERS = ('bernoulli', 'gaussian')
_LOG_2PI = math.log(2.0 * math.pi)


def _sum_per_example(values: jax.Array) -> jax.Array:
    return values.reshape(values.shape[0], -1).sum(axis=1)


def reparameterize(key: jax.Array, mean: jax.Array, log_var: jax.Array) -> jax.Array:
    """z = mean + sigma * eps, eps ~ N(0, I): a sample of N(mean, diag(sigma^2)) that is
    differentiable in mean and log_var."""
    eps = jax.random.normal(key, mean.shape, mean.dtype)
    return mean + jnp.exp(0.5 * log_var) * eps


def gaussian_kl(mean: jax.Array, log_var: jax.Array) -> jax.Array:
    """KL(N(mean, diag(exp(log_var))) || N(0, I)) per example [N], in closed form:
    1/2 sum_j (sigma_j^2 + mean_j^2 - 1 - log sigma_j^2)."""
    return 0.5 * _sum_per_example(jnp.exp(log_var) + jnp.square(mean) - 1.0 - log_var)


def gaussian_log_density(z: jax.Array, mean: jax.Array, log_var: jax.Array) -> jax.Array:
    """log N(z; mean, diag(exp(log_var))) per example [N]."""
    return -0.5 * _sum_per_example(_LOG_2PI + log_var + jnp.square(z - mean) * jnp.exp(-log_var))


def grey_levels(x: jax.Array) -> jax.Array:
    """Images in [-1, 1] -> the Bernoulli decoder's targets in [0, 1]."""
    return (x + 1.0) * 0.5


def bernoulli_log_likelihood(logits: jax.Array, x: jax.Array) -> jax.Array:
    """sum_pixels t log sigmoid(l) + (1 - t) log sigmoid(-l), t = (x + 1) / 2, per example [N].

    Written as t l - softplus(l), which stays finite for saturated logits.
    """
    targets = grey_levels(x)
    return _sum_per_example(targets * logits - jax.nn.softplus(logits))


def gaussian_log_likelihood(mean: jax.Array, x: jax.Array, log_scale: jax.Array | float) -> jax.Array:
    """sum_pixels log N(x; mean, exp(log_scale)^2) per example [N]; log_scale broadcasts
    (a scalar for one scale over all pixels, or per pixel)."""
    log_scale = jnp.broadcast_to(jnp.asarray(log_scale, x.dtype), x.shape)
    return -0.5 * _sum_per_example(_LOG_2PI + 2.0 * log_scale + jnp.square(x - mean) * jnp.exp(-2.0 * log_scale))


def log_likelihood(decoder: str, output: jax.Array, x: jax.Array, log_scale: jax.Array | float = 0.0) -> jax.Array:
    """log p(x|z) per example for the decoder kind, from the decoder's output (logits or mean)."""
    check_decoder(decoder)
    if decoder == 'bernoulli':
        return bernoulli_log_likelihood(output, x)
    return gaussian_log_likelihood(output, x, log_scale)


def decoder_mean(decoder: str, output: jax.Array) -> jax.Array:
    """The decoder's mean image in the data's [-1, 1] space: 2 sigmoid(l) - 1 = tanh(l / 2) for
    Bernoulli logits, the Gaussian mean as it is."""
    check_decoder(decoder)
    return jnp.tanh(0.5 * output) if decoder == 'bernoulli' else output


def check_decoder(decoder: str) -> None:
    if decoder not in DECODERS:
        raise ValueError(f'unknown decoder {decoder!r} (the VAE games\' decoder field); valid: {list(DECODERS)}')


def elbo(log_likelihood_value: jax.Array, kl: jax.Array) -> jax.Array:
    """ELBO per example: log p(x|z) (one reparameterised z, or a mean over several) - KL."""
    return log_likelihood_value - kl


def importance_weighted_bound(log_likelihoods: jax.Array, z: jax.Array, mean: jax.Array,
                              log_var: jax.Array) -> jax.Array:
    """log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x) per example (Burda et al. 2016), from K posterior
    samples: `log_likelihoods` [K, N] and `z` [K, N, latent]. ELBO <= this <= log p(x); it equals
    log p(x) for every K when q is the exact posterior."""
    log_prior = jax.vmap(lambda zk: gaussian_log_density(zk, jnp.zeros_like(zk), jnp.zeros_like(zk)))(z)
    log_posterior = jax.vmap(lambda zk: gaussian_log_density(zk, mean, log_var))(z)
    weights = log_likelihoods + log_prior - log_posterior
    return jax.nn.logsumexp(weights, axis=0) - math.log(weights.shape[0])


def beta_schedule(step: jax.Array | int, beta: float, warmup_steps: int = 0) -> jax.Array:
    """The KL weight at `step`: `beta` throughout when warmup_steps == 0, else rising linearly
    from 0 at step 0 to `beta` at step `warmup_steps` and constant after."""
    if warmup_steps < 0:
        raise ValueError(f'vae_beta_warmup_steps must be >= 0, got {warmup_steps}')
    if warmup_steps == 0:
        return jnp.asarray(beta, jnp.float32)
    progress = jnp.minimum(jnp.asarray(step, jnp.float32) / warmup_steps, 1.0)
    return beta * progress
