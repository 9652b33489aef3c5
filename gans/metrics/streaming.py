"""Accumulators that take features (or class probabilities) a batch at a time, so that images
never have to be held all at once: embed a batch, `update` with its features, drop the batch.

- `GaussianAccumulator`: running count, mean and scatter (float64, pairwise merge) for FID;
  holds O(D^2) whatever the number of samples (see `gans.metrics.frechet`).
- `FeatureCollector`: keeps the first `max_samples` feature rows, for KID and the k-NN
  manifold metrics, which need the samples themselves (N x D features are small; images are not).
- `ProbabilityCollector`: a `FeatureCollector` whose rows must be class distributions, for the
  Inception Score.
"""

from __future__ import annotations

import numpy as np

from gans.metrics import frechet


class GaussianAccumulator:
    """Streams feature batches [n, D] into `GaussianStats` (mean, unbiased covariance, count)."""

    def __init__(self):
        self._count = 0
        self._mean: np.ndarray | None = None
        self._scatter: np.ndarray | None = None

    @property
    def num_samples(self) -> int:
        return self._count

    def update(self, features) -> GaussianAccumulator:
        count, mean, scatter = frechet.batch_scatter(features)
        if self._mean is None:
            self._count, self._mean, self._scatter = count, mean, scatter
        elif mean.shape != self._mean.shape:
            raise ValueError(f'feature dim changed between batches: {self._mean.shape[0]} then {mean.shape[0]}')
        else:
            self._count, self._mean, self._scatter = frechet.merge_scatter(
                self._count, self._mean, self._scatter, count, mean, scatter)
        return self

    def stats(self) -> frechet.GaussianStats:
        if self._count < 2:
            raise ValueError(f'a covariance needs at least 2 samples, got {self._count}')
        return frechet.GaussianStats(mean=self._mean.copy(), cov=self._scatter / (self._count - 1),
                                     num_samples=self._count)


class FeatureCollector:
    """Keeps the first `max_samples` rows fed to it (float32, preallocated once the dim is known)."""

    def __init__(self, max_samples: int):
        if max_samples < 1:
            raise ValueError(f'max_samples must be >= 1, got {max_samples}')
        self.max_samples = int(max_samples)
        self._rows: np.ndarray | None = None
        self._count = 0

    @property
    def num_samples(self) -> int:
        return self._count

    @property
    def full(self) -> bool:
        return self._count >= self.max_samples

    def _check(self, batch: np.ndarray) -> None:
        if batch.ndim != 2:
            raise ValueError(f'a batch must be 2-D [n, dim], got shape {batch.shape}')
        if self._rows is not None and batch.shape[1] != self._rows.shape[1]:
            raise ValueError(f'dim changed between batches: {self._rows.shape[1]} then {batch.shape[1]}')

    def update(self, batch) -> FeatureCollector:
        """Appends rows until `max_samples` are held; rows beyond that are dropped."""
        batch = np.asarray(batch, np.float32)
        self._check(batch)
        if self._rows is None:
            self._rows = np.empty((self.max_samples, batch.shape[1]), np.float32)
        take = min(batch.shape[0], self.max_samples - self._count)
        self._rows[self._count:self._count + take] = batch[:take]
        self._count += take
        return self

    def result(self) -> np.ndarray:
        """The rows held so far, [num_samples, dim]."""
        if self._count == 0:
            raise ValueError('nothing collected yet')
        return self._rows[:self._count]


class ProbabilityCollector(FeatureCollector):
    """A `FeatureCollector` of class distributions [n, C]: rows must be >= 0 and sum to 1."""

    def _check(self, batch: np.ndarray) -> None:
        super()._check(batch)
        if np.any(batch < 0) or not np.allclose(batch.sum(axis=1), 1.0, atol=1e-3):
            raise ValueError('probabilities must be non-negative rows summing to 1 (apply softmax to logits)')
