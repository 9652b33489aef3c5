"""Experience replay of past fakes (Shrivastava et al. 2017; the "show D old samples" remedy).

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
