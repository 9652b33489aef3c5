"""Kernel Inception Distance (Binkowski, Sutherland, Arbel & Gretton 2018, "Demystifying MMD
GANs"): the unbiased estimate of the squared maximum mean discrepancy between two feature sets
under the cubic polynomial kernel

    k(x, y) = (x . y / d + 1)^3,      d = feature dimension,

    MMD^2_u = sum_{i != j} k(x_i, x_j) / (m (m - 1)) + sum_{i != j} k(y_i, y_j) / (n (n - 1))
              - 2 sum_{i, j} k(x_i, y_j) / (m n).

Protocol of the numbers this module reports (that of the paper's reference code):
- `num_subsets` (default 100) subsets are drawn; each takes `subset_size` (default 1000, capped
  by the smaller sample count) rows of each set without replacement, independently across
  subsets, by numpy's default generator (PCG64) seeded with `seed` (all real subsets first,
  then all fake ones).
- The result's `mean` is the average of MMD^2_u over the subsets; `std` is their standard
  deviation (ddof 0), i.e. the spread of one subset's estimate, not a standard error of the mean
  (divide by sqrt(num_subsets) for that). Values are not rescaled (papers often print KID x 10^3).
- Because each subset's estimate is a U-statistic, its expectation over subsets is exactly the
  full-sample MMD^2_u, whose own expectation is 0 when both sets come from one distribution:
  KID can be negative.
- Kernel sums run jitted in float32 (HIGHEST matmul precision), summed per row before the total.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np


def polynomial_kernel(x: jax.Array, y: jax.Array) -> jax.Array:
    """k(x_i, y_j) = (x_i . y_j / d + 1)^3 for all pairs: [m, d] x [n, d] -> [m, n]."""
    dot = jnp.matmul(x, y.T, precision=jax.lax.Precision.HIGHEST)
    return (dot / x.shape[1] + 1.0) ** 3


@jax.jit
def mmd2_unbiased(x: jax.Array, y: jax.Array) -> jax.Array:
    """MMD^2_u between samples x [m, d] and y [n, d] (m, n >= 2) under the cubic kernel."""
    m, n = x.shape[0], y.shape[0]

    def off_diagonal_sum(k):
        return k.sum(axis=1).sum() - jnp.trace(k)

    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    return (off_diagonal_sum(k_xx) / (m * (m - 1)) + off_diagonal_sum(k_yy) / (n * (n - 1))
            - 2.0 * k_xy.sum(axis=1).sum() / (m * n))


@jax.jit
def subset_mmd2(real: jax.Array, fake: jax.Array, real_rows: jax.Array, fake_rows: jax.Array) -> jax.Array:
    """MMD^2_u of each subset pair: rows of `real_rows`, `fake_rows` [S, m] index the sets; -> [S]."""
    return jax.lax.map(lambda rows: mmd2_unbiased(real[rows[0]], fake[rows[1]]), (real_rows, fake_rows))


def draw_subsets(num_rows: int, num_subsets: int, subset_size: int, rng: np.random.Generator) -> np.ndarray:
    """[num_subsets, subset_size] row indices, each row drawn without replacement."""
    return np.stack([rng.choice(num_rows, subset_size, replace=False) for _ in range(num_subsets)])


@dataclasses.dataclass(frozen=True)
class KIDResult:
    """Mean and std of MMD^2_u over subsets, with everything needed to reproduce it."""
    mean: float
    std: float
    num_subsets: int
    subset_size: int
    num_real: int
    num_fake: int
    seed: int


def _check_pair(real, fake) -> None:
    if real.ndim != 2 or fake.ndim != 2:
        raise ValueError(f'features must be 2-D [num_samples, dim], got {real.shape} and {fake.shape}')
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f'feature dims differ: real {real.shape[1]}, fake {fake.shape[1]}')


def kernel_inception_distance(real, fake, num_subsets: int = 100, subset_size: int = 1000,
                              seed: int = 0) -> KIDResult:
    """KID between reference features `real` [N, d] and generated features `fake` [M, d]."""
    real, fake = jnp.asarray(real, jnp.float32), jnp.asarray(fake, jnp.float32)
    _check_pair(real, fake)
    size = min(subset_size, real.shape[0], fake.shape[0])
    if size < 2:
        raise ValueError(f'KID needs subsets of >= 2 samples per set; got subset_size={subset_size}, '
                         f'{real.shape[0]} real and {fake.shape[0]} fake samples')
    if num_subsets < 1:
        raise ValueError(f'num_subsets must be >= 1, got {num_subsets}')
    rng = np.random.default_rng(seed)
    real_rows = draw_subsets(real.shape[0], num_subsets, size, rng)
    fake_rows = draw_subsets(fake.shape[0], num_subsets, size, rng)
    values = np.asarray(subset_mmd2(real, fake, jnp.asarray(real_rows), jnp.asarray(fake_rows)), np.float64)
    return KIDResult(mean=float(values.mean()), std=float(values.std()), num_subsets=num_subsets,
                     subset_size=size, num_real=real.shape[0], num_fake=fake.shape[0], seed=seed)
