"""Inception Score (Salimans et al. 2016, "Improved Techniques for Training GANs"):

    IS = exp( E_x KL( p(y|x) || p(y) ) ),    p(y) = E_x p(y|x),

from a classifier's class probabilities p(y|x) on generated samples.

Protocol of the numbers this module reports (that of the paper's reference code):
- The N x C probabilities are cut, in the order given, into `splits` (default 10) contiguous
  parts, part i holding rows [i N // splits, (i + 1) N // splits); the marginal p(y) is each
  part's own mean, and the score is computed per part.
- The result's `mean` and `std` (ddof 0) are over the parts. The score ranges from 1 (every
  prediction equals the marginal) to C (confident predictions spread evenly over C classes).
- The original uses Inception-v3 on 50k samples; this module takes any classifier's
  probabilities, which the caller names alongside the result. Streaming: collect the
  probabilities with `streaming.ProbabilityCollector` (N x C is small).
- Terms with p = 0 contribute 0 (x log x -> 0); the computation runs jitted in float32.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import xlogy


@dataclasses.dataclass(frozen=True)
class InceptionScoreResult:
    mean: float
    std: float
    splits: int
    num_samples: int


def mean_kl_to_marginal(probs: jax.Array) -> jax.Array:
    """E_x KL(p(y|x) || p(y)) with p(y) the mean row of `probs` [n, C]."""
    marginal = probs.mean(axis=0)
    kl = (xlogy(probs, probs) - xlogy(probs, marginal)).sum(axis=1)
    return kl.mean()


@functools.partial(jax.jit, static_argnames='splits')
def _split_scores(probs: jax.Array, splits: int) -> jax.Array:
    n = probs.shape[0]
    # Parts can differ in size by one row, so they are sliced statically rather than reshaped.
    bounds = [(i * n // splits, (i + 1) * n // splits) for i in range(splits)]
    return jnp.stack([jnp.exp(mean_kl_to_marginal(probs[lo:hi])) for lo, hi in bounds])


def inception_score(probs, splits: int = 10) -> InceptionScoreResult:
    """IS of class probabilities `probs` [N, C] (rows >= 0, summing to 1) over `splits` parts."""
    probs = np.asarray(probs, np.float32)
    if probs.ndim != 2:
        raise ValueError(f'probs must be 2-D [num_samples, num_classes], got shape {probs.shape}')
    if splits < 1 or probs.shape[0] < splits:
        raise ValueError(f'need 1 <= splits <= num_samples, got splits={splits} for {probs.shape[0]} samples')
    if np.any(probs < 0) or not np.allclose(probs.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError('probs must be non-negative rows summing to 1 (apply softmax to logits)')
    scores = np.asarray(_split_scores(jnp.asarray(probs), splits), np.float64)
    return InceptionScoreResult(mean=float(scores.mean()), std=float(scores.std()), splits=splits,
                                num_samples=probs.shape[0])
