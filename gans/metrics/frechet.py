"""Frechet distance between Gaussians fitted to two feature sets: FID (Heusel et al. 2017,
"GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium").

    d^2 = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2})

Protocol of the numbers this module reports:
- Each feature set is summarised by `GaussianStats`: the sample mean and the unbiased sample
  covariance (divisor n - 1, as `numpy.cov`), with the sample count. Statistics are built a batch
  at a time (`streaming.GaussianAccumulator`): each batch's mean and centred scatter matrix is
  computed by a jitted function (float32 unless the input is float64 under jax_enable_x64, matmul
  at HIGHEST precision so accelerators do not round to TF32), and batches are merged on the host
  in float64 with the pairwise update of Chan, Golub & LeVeque (1979). Centring each batch
  before the product avoids the cancellation of the raw-moment formula E[xx^T] - mu mu^T.
- The trace term is computed in float64 on the host, without a general (non-symmetric) matrix
  square root: with A = S1^{1/2}, S1 S2 = A (A S2) has the eigenvalues of (A S2) A = A S2 A
  (XY and YX share eigenvalues, singular or not), and A S2 A is symmetric positive
  semi-definite, so Tr((S1 S2)^{1/2}) is the sum of the square roots of its eigenvalues, from
  `numpy.linalg.eigvalsh`. Eigenvalues within rounding of zero (|lambda| <= D eps lambda_max)
  are set to 0 before the square root, so singular covariances (fewer samples than dims) do not
  pick up sqrt(rounding) ~ 1e-8 per dimension.
  Unlike `scipy.linalg.sqrtm(S1 @ S2)` this never returns complex values and needs no
  diagonal offset when there are fewer samples than feature dimensions (singular covariances);
  for well-conditioned inputs the two agree to 1e-9 relative (tested).
- FID is usually quoted as d^2 (not d), on 2048-d Inception pool features of 50k samples
  against the training split; the reference split and the seed are the caller's to report.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np


@jax.jit
def _batch_moments(features: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(mean [D], scatter about the batch mean [D, D]) of one batch [n, D]."""
    mean = features.mean(axis=0)
    centred = features - mean
    scatter = jnp.matmul(centred.T, centred, precision=jax.lax.Precision.HIGHEST)
    return mean, scatter


def _check_features(features) -> None:
    if features.ndim != 2:
        raise ValueError(f'features must be a 2-D array [num_samples, feature_dim], got shape {features.shape}')
    if features.shape[0] == 0:
        raise ValueError('features is empty: got 0 samples')


@dataclasses.dataclass(frozen=True)
class GaussianStats:
    """Mean [D], unbiased covariance [D, D] (float64) and the number of samples behind them."""
    mean: np.ndarray
    cov: np.ndarray
    num_samples: int

    def __post_init__(self):
        mean, cov = np.asarray(self.mean), np.asarray(self.cov)
        if mean.ndim != 1 or cov.shape != (mean.shape[0],) * 2:
            raise ValueError(f'GaussianStats needs mean [D] and cov [D, D], got {mean.shape} and {cov.shape}')
        if self.num_samples < 2:
            raise ValueError(f'a covariance needs at least 2 samples, got num_samples={self.num_samples}')

    @property
    def feature_dim(self) -> int:
        return int(np.shape(self.mean)[0])

    @classmethod
    def from_features(cls, features) -> GaussianStats:
        """Stats of one in-memory feature array [N, D] (N >= 2); for more, use the accumulator."""
        num, mean, scatter = batch_scatter(features)
        if num < 2:
            raise ValueError(f'a covariance needs at least 2 samples, got {num}')
        return cls(mean=mean, cov=scatter / (num - 1), num_samples=num)

    def save(self, path: str) -> None:
        """Writes an .npz with `mean`, `cov`, `num_samples` (e.g. reference stats of a split)."""
        np.savez(path, mean=self.mean, cov=self.cov, num_samples=self.num_samples)

    @classmethod
    def load(cls, path: str) -> GaussianStats:
        with np.load(path) as f:
            return cls(mean=f['mean'], cov=f['cov'], num_samples=int(f['num_samples']))


def batch_scatter(features) -> tuple[int, np.ndarray, np.ndarray]:
    """(count, mean, scatter about the mean) of one batch [n, D], as float64 numpy."""
    features = jnp.asarray(features)
    _check_features(features)
    mean, scatter = _batch_moments(features)
    return features.shape[0], np.asarray(mean, np.float64), np.asarray(scatter, np.float64)


def merge_scatter(count_a: int, mean_a: np.ndarray, scatter_a: np.ndarray,
                  count_b: int, mean_b: np.ndarray, scatter_b: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """Pairwise (Chan et al.) merge of two (count, mean, scatter) summaries, in float64."""
    count = count_a + count_b
    delta = mean_b - mean_a
    mean = mean_a + delta * (count_b / count)
    scatter = scatter_a + scatter_b + np.outer(delta, delta) * (count_a * count_b / count)
    return count, mean, scatter


def _sqrt_eigvals(eigvals: np.ndarray) -> np.ndarray:
    """Square roots of a PSD matrix's eigenvalues, those within rounding of 0 taken as 0.

    An eigenvalue that is 0 in exact arithmetic comes out of eigh as +-dim * eps * largest, and
    its square root (~1e-8 relative) would otherwise add up over many dims of a singular matrix.
    """
    tolerance = len(eigvals) * np.finfo(np.float64).eps * float(np.abs(eigvals).max())
    return np.sqrt(np.where(eigvals > tolerance, eigvals, 0.0))


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix."""
    eigvals, eigvecs = np.linalg.eigh(matrix)
    return (eigvecs * _sqrt_eigvals(eigvals)) @ eigvecs.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """Tr((S1 S2)^{1/2}) for symmetric PSD S1, S2, via the eigenvalues of S1^{1/2} S2 S1^{1/2}."""
    root1 = _psd_sqrt(sigma1)
    middle = root1 @ sigma2 @ root1
    middle = 0.5 * (middle + middle.T)  # Symmetric up to rounding; eigvalsh reads one triangle.
    return float(_sqrt_eigvals(np.linalg.eigvalsh(middle)).sum())


def _as_covariance(name: str, sigma, dim: int) -> np.ndarray:
    sigma = np.asarray(sigma, np.float64)
    if sigma.shape != (dim, dim):
        raise ValueError(f'{name} must be [{dim}, {dim}] to match the means, got shape {sigma.shape}')
    if not np.all(np.isfinite(sigma)):
        raise ValueError(f'{name} has non-finite entries')
    if not np.allclose(sigma, sigma.T, rtol=1e-5, atol=1e-8 * max(1.0, np.abs(sigma).max())):
        raise ValueError(f'{name} is not symmetric, so it is not a covariance matrix')
    return 0.5 * (sigma + sigma.T)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Squared Frechet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    if mu1.ndim != 1 or mu1.shape != mu2.shape:
        raise ValueError(f'means must be 1-D of the same length, got shapes {mu1.shape} and {mu2.shape}')
    if not (np.all(np.isfinite(mu1)) and np.all(np.isfinite(mu2))):
        raise ValueError('means have non-finite entries')
    sigma1 = _as_covariance('sigma1', sigma1, mu1.shape[0])
    sigma2 = _as_covariance('sigma2', sigma2, mu1.shape[0])
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt_product(sigma1, sigma2)
    # Exact arithmetic gives >= 0; identical inputs can round to a tiny negative number.
    return max(float(value), 0.0)


@dataclasses.dataclass(frozen=True)
class FrechetResult:
    """FID (squared Frechet distance) with the sample counts behind each side."""
    fid: float
    num_real: int
    num_fake: int
    feature_dim: int


def fid(real: GaussianStats, fake: GaussianStats) -> FrechetResult:
    """FID between reference (`real`) and generated (`fake`) feature statistics."""
    if real.feature_dim != fake.feature_dim:
        raise ValueError(f'feature dims differ: real {real.feature_dim}, fake {fake.feature_dim}')
    value = frechet_distance(real.mean, real.cov, fake.mean, fake.cov)
    return FrechetResult(fid=value, num_real=real.num_samples, num_fake=fake.num_samples,
                         feature_dim=real.feature_dim)
