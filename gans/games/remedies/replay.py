"""Showing D past fakes (Shrivastava et al. 2017): experience replay (a fraction of each fake batch
from a ring buffer) and CycleGAN's image pool (image by image, a swap with probability p).

A fixed-size ring buffer of generated examples lives in `GANState.game_state['replay']` as
plain arrays: `fakes` [size, ...] and `next`, the row the next write goes to. Every D update
replaces round(fraction * B) of its B fresh fakes by buffer rows drawn without replacement,
then writes the fresh fakes it kept over the oldest rows. Nothing lives outside the state,
so the step stays pure and jittable, and a resumed run replays exactly what it would have.

The buffer starts full, with the initial generator's samples, so D's fake batch holds the
configured fraction of replayed examples from the first step on; those first entries rotate
out after size / (B - replayed) updates.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

ReplayState = dict[str, jax.Array]


@dataclasses.dataclass(frozen=True)
class ReplayBuffer:
    size: int
    fraction: float  # of D's fake batch taken from the buffer

    def __post_init__(self):
        if self.size < 1:
            raise ValueError(f'gan.replay_size must be a positive integer, got {self.size}')
        if not 0.0 < self.fraction < 1.0:
            raise ValueError(f'gan.replay_fraction must be in (0, 1), got {self.fraction}')

    def num_replayed(self, batch: int) -> int:
        """Fakes per batch of `batch` that come from the buffer (static: shapes are)."""
        n = round(self.fraction * batch)
        if n > self.size:
            raise ValueError(f'replay_size {self.size} is smaller than the {n} fakes replayed per batch')
        return n

    def init(self, fakes: jax.Array) -> ReplayState:
        """A full buffer, cycling through `fakes` [n, ...] (n >= 1)."""
        rows = jnp.arange(self.size) % fakes.shape[0]
        return {'fakes': fakes[rows], 'next': jnp.zeros((), jnp.int32)}

    def mix(self, replay: ReplayState, fresh: jax.Array, key: jax.Array) -> tuple[jax.Array, ReplayState]:
        """(D's fake batch: kept fresh fakes then replayed ones, the buffer after the write)."""
        batch = fresh.shape[0]
        num_replayed = self.num_replayed(batch)
        kept = fresh[:batch - num_replayed]
        rows = jax.random.choice(key, self.size, (num_replayed,), replace=False)
        mixed = jnp.concatenate([kept, replay['fakes'][rows].astype(fresh.dtype)])
        # Write at most `size` rows, so no two writes of one step land on the same row.
        written = kept[:self.size]
        positions = (replay['next'] + jnp.arange(written.shape[0])) % self.size
        fakes = replay['fakes'].at[positions].set(written.astype(replay['fakes'].dtype))
        return mixed, {'fakes': fakes, 'next': (replay['next'] + written.shape[0]) % self.size}


PoolState = dict[str, jax.Array]


@dataclasses.dataclass(frozen=True)
class ImagePool:
    """CycleGAN's image pool (Zhu et al. 2017, after Shrivastava et al. 2017): D sees fakes from a
    history of the last `size` generated images of its domain, not only the newest generator's.

    Image by image, in batch order: until the pool holds `size` images each fake is stored and
    passed through; after that, with probability `probability` it is swapped for a stored image
    drawn uniformly (which it replaces), else passed through and not stored. The pool, `images`
    [size, ...] and `count` (how many are stored), lives in the game state.
    """
    size: int = 50
    probability: float = 0.5

    def __post_init__(self):
        if self.size < 1:
            raise ValueError(f'the image pool size must be a positive integer, got {self.size}')
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f'the image pool probability must be in [0, 1], got {self.probability}')

    def init(self, shape: tuple[int, ...]) -> PoolState:
        """An empty pool of examples of `shape`."""
        return {'images': jnp.zeros((self.size, *shape), jnp.float32), 'count': jnp.zeros((), jnp.int32)}

    def query(self, pool: PoolState, fresh: jax.Array, key: jax.Array) -> tuple[jax.Array, PoolState]:
        """(the batch D judges as fakes, the pool after it), for fresh fakes [B, ...]."""

        def one(carry, inputs):
            images, count = carry
            image, image_key = inputs
            swap_key, row_key = jax.random.split(image_key)
            full = count >= self.size
            swap = full & (jax.random.uniform(swap_key) < self.probability)
            row = jnp.where(full, jax.random.randint(row_key, (), 0, self.size), count)
            stored = images[row]
            keep_new = (~full) | swap  # where the fresh image goes into the pool
            images = images.at[row].set(jnp.where(keep_new, image.astype(images.dtype), stored))
            return (images, jnp.minimum(count + 1, self.size)), jnp.where(swap, stored.astype(image.dtype), image)

        keys = jax.random.split(key, fresh.shape[0])
        (images, count), out = jax.lax.scan(one, (pool['images'], pool['count']), (fresh, keys))
        return out, {'images': images, 'count': count}
