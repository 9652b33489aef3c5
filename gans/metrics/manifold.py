"""k-nearest-neighbour manifold metrics between reference (real) and generated (fake) features:

- Improved precision and recall (Kynkaanniemi, Karras, Laine, Lehtinen & Aila 2019, "Improved
  Precision and Recall Metric for Assessing Generative Models"). Each set's manifold is the union
  of balls around its points, the radius of a point being the distance to its k-th nearest
  neighbour in the same set (itself excluded; k = 3 by default). Precision is the fraction of
  fake points inside the real manifold, recall the fraction of real points inside the fake one.
  A point is inside a ball when its distance is <= the radius, as in the paper.
- Density and coverage (Naeem, Oh, Uh, Choi & Yoo 2020, "Reliable Fidelity and Diversity Metrics
  for Generative Models"), with balls around the real points only (k = 5 by default):
      density  = 1 / (k M) sum_j sum_i 1[fake_j in B(real_i, r_i)]
      coverage = 1 / N sum_i 1[some fake_j in B(real_i, r_i)]
  with strict inclusion (distance < radius), as in the paper, so that density of a set against
  itself is exactly 1 when there are no ties (each ball holds its centre and k - 1 neighbours).

Distances are Euclidean, compared squared. They are computed jitted in tiles of at most
`block_size` x `block_size` pairs (rows of one set against rows of the other), reduced tile by
tile (running k smallest distances; ball-membership flags and counts), so no N x M matrix is
ever formed. The caller reports which features, how many samples (in the result) and which
reference split and seed were used; the papers use VGG-16 fc2 (P/R) or Inception features.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

DEFAULT_BLOCK_SIZE = 1024


def squared_distances(a: jax.Array, b: jax.Array) -> jax.Array:
    """||a_i - b_j||^2 for all pairs, [r, d] x [c, d] -> [r, c], clipped at 0 against rounding."""
    cross = jnp.matmul(a, b.T, precision=jax.lax.Precision.HIGHEST)
    sq = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2.0 * cross
    return jnp.maximum(sq, 0.0)


def _to_blocks(x: np.ndarray, block_size: int) -> tuple[jax.Array, jax.Array]:
    """[n, d] -> zero-padded blocks [num_blocks, b, d] and a validity mask [num_blocks, b]."""
    n = x.shape[0]
    size = min(block_size, n)
    num_blocks = -(-n // size)
    padded = np.zeros((num_blocks * size, x.shape[1]), np.float32)
    padded[:n] = x
    valid = np.arange(num_blocks * size) < n
    return jnp.asarray(padded.reshape(num_blocks, size, -1)), jnp.asarray(valid.reshape(num_blocks, size))


@functools.partial(jax.jit, static_argnames='k')
def _kth_neighbour_sq_blocked(blocks: jax.Array, valid: jax.Array, k: int) -> jax.Array:
    """Squared distance of every row to its k-th nearest other row: [num_blocks, b]."""
    num_blocks, size, _ = blocks.shape
    offsets = jnp.arange(size)

    def row_block(i):
        rows = blocks[i]

        def col_block(nearest, j):
            sq = squared_distances(rows, blocks[j])
            itself = (i * size + offsets)[:, None] == (j * size + offsets)[None, :]
            sq = jnp.where(itself | ~valid[j][None, :], jnp.inf, sq)
            # Keep the k smallest seen so far (top_k of negated distances, ascending).
            nearest = -jax.lax.top_k(-jnp.concatenate([nearest, sq], axis=1), k)[0]
            return nearest, None

        nearest, _ = jax.lax.scan(col_block, jnp.full((size, k), jnp.inf), jnp.arange(num_blocks))
        return nearest[:, k - 1]

    return jax.lax.map(row_block, jnp.arange(num_blocks))


def _check_features(name: str, x: np.ndarray, min_rows: int) -> None:
    if x.ndim != 2:
        raise ValueError(f'{name} must be 2-D [num_samples, dim], got shape {x.shape}')
    if x.shape[0] < min_rows:
        raise ValueError(f'{name} has {x.shape[0]} samples; the k-NN radius needs at least k + 1 = {min_rows}')
    if not np.all(np.isfinite(x)):
        raise ValueError(f'{name} has non-finite entries')


def kth_neighbour_distances(x, k: int, block_size: int = DEFAULT_BLOCK_SIZE) -> np.ndarray:
    """Distance from each row of `x` [N, d] to its k-th nearest other row, [N] float32."""
    x = np.asarray(x, np.float32)
    if k < 1:
        raise ValueError(f'k must be >= 1, got {k}')
    _check_features('x', x, k + 1)
    blocks, valid = _to_blocks(x, block_size)
    sq = np.asarray(_kth_neighbour_sq_blocked(blocks, valid, k)).reshape(-1)[:x.shape[0]]
    return np.sqrt(sq)


@jax.jit
def _cross_blocked(real_blocks, real_valid, fake_blocks, fake_valid, real_sq_pr, fake_sq_pr, real_sq_dc):
    """Ball memberships between the sets, tile by tile.

    Returns per real row: (inside some fake P/R ball, some fake inside its D/C ball), and per
    fake row and real block: (inside some real P/R ball, number of real D/C balls holding it).
    """
    num_fake_blocks = fake_blocks.shape[0]

    def row_block(i):
        rows, rows_valid = real_blocks[i], real_valid[i]

        def col_block(carry, j):
            in_fake_manifold, covered = carry
            sq = squared_distances(rows, fake_blocks[j])
            pair = rows_valid[:, None] & fake_valid[j][None, :]
            in_real_ball = (sq <= real_sq_pr[i][:, None]) & pair
            in_fake_ball = (sq <= fake_sq_pr[j][None, :]) & pair
            in_real_dc_ball = (sq < real_sq_dc[i][:, None]) & pair
            carry = (in_fake_manifold | in_fake_ball.any(axis=1), covered | in_real_dc_ball.any(axis=1))
            return carry, (in_real_ball.any(axis=0), in_real_dc_ball.sum(axis=0))

        no = jnp.zeros(rows.shape[0], bool)
        (in_fake_manifold, covered), (in_real_manifold, dc_count) = jax.lax.scan(
            col_block, (no, no), jnp.arange(num_fake_blocks))
        return in_fake_manifold, covered, in_real_manifold, dc_count

    in_fake_manifold, covered, in_real_manifold, dc_count = jax.lax.map(row_block, jnp.arange(real_blocks.shape[0]))
    return in_fake_manifold, covered, in_real_manifold.any(axis=0), dc_count.sum(axis=0)


@dataclasses.dataclass(frozen=True)
class ManifoldMetrics:
    """Precision/recall (k = k_pr) and density/coverage (k = k_dc) with their sample counts."""
    precision: float
    recall: float
    density: float
    coverage: float
    k_pr: int
    k_dc: int
    num_real: int
    num_fake: int


def manifold_metrics(real, fake, k_pr: int = 3, k_dc: int = 5,
                     block_size: int = DEFAULT_BLOCK_SIZE) -> ManifoldMetrics:
    """Improved precision/recall and density/coverage of `fake` [M, d] against `real` [N, d]."""
    real, fake = np.asarray(real, np.float32), np.asarray(fake, np.float32)
    if k_pr < 1 or k_dc < 1:
        raise ValueError(f'k must be >= 1, got k_pr={k_pr}, k_dc={k_dc}')
    if block_size < 1:
        raise ValueError(f'block_size must be >= 1, got {block_size}')
    _check_features('real', real, max(k_pr, k_dc) + 1)
    _check_features('fake', fake, k_pr + 1)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f'feature dims differ: real {real.shape[1]}, fake {fake.shape[1]}')
    real_blocks, real_valid = _to_blocks(real, block_size)
    fake_blocks, fake_valid = _to_blocks(fake, block_size)
    real_sq_pr = _kth_neighbour_sq_blocked(real_blocks, real_valid, k_pr)
    real_sq_dc = real_sq_pr if k_dc == k_pr else _kth_neighbour_sq_blocked(real_blocks, real_valid, k_dc)
    fake_sq_pr = _kth_neighbour_sq_blocked(fake_blocks, fake_valid, k_pr)
    in_fake_manifold, covered, in_real_manifold, dc_count = (np.asarray(a).reshape(-1) for a in _cross_blocked(
        real_blocks, real_valid, fake_blocks, fake_valid, real_sq_pr, fake_sq_pr, real_sq_dc))
    num_real, num_fake = real.shape[0], fake.shape[0]
    return ManifoldMetrics(
        precision=float(in_real_manifold[:num_fake].mean()),
        recall=float(in_fake_manifold[:num_real].mean()),
        density=float(dc_count[:num_fake].sum() / (k_dc * num_fake)),
        coverage=float(covered[:num_real].mean()),
        k_pr=k_pr, k_dc=k_dc, num_real=num_real, num_fake=num_fake)
