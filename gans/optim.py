"""Per-player optimizers for the two-player GAN game, as composable optax pieces.

Each player (generator, discriminator) owns one ``optax.GradientTransformation``.
Two-time-scale updates (TTUR, Heusel et al., 2017) are just a different learning
rate per player. The pieces here fill gaps optax leaves for GANs:

* ``ascent``: flips a descent chain into ascent. The library's losses are all
  minimized, so the training engine never needs it; it exists for users who write
  an objective to maximize (e.g. the discriminator's value V(D, G)).
* ``clip_weights``: WGAN's critic weight clipping, applied to the parameters
  after the update.
* ``track_ema``: keeps an exponential moving average of the generator's
  parameters in the optimizer state (the weights usually sampled from).

Optimistic / extragradient-style updates (Daskalakis et al., 2018) are already
``optax.optimistic_gradient_descent``; pass it, chained with the pieces above,
wherever a ``player_optimizer`` would go, e.g.
``optax.chain(optax.optimistic_gradient_descent(1e-3), track_ema(0.999))``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

_NEEDS_PARAMS = (
    "{} needs the current parameters: call update(updates, state, params)."
)


def ascent() -> optax.GradientTransformation:
    """Negates the updates, so a descent chain ascends its objective.

    ``optax.chain(optax.adam(lr), ascent())`` applied to grad(V) increases V.
    Not needed with ``gans.losses``, whose losses are all minimized.
    """
    return optax.scale(-1.0)


def clip_weights(bound: float) -> optax.GradientTransformation:
    """Keeps every parameter in [-bound, bound] after the update (WGAN critic).

    Put it after the optimizer in a chain: it rewrites the final updates so that
    params + updates lands inside the box, and leaves in-bound steps untouched.
    """
    if not bound > 0:
        raise ValueError(f"clip_weights bound must be positive, got {bound}")

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(_NEEDS_PARAMS.format("clip_weights"))

        def clip_update(update, param):
            if update is None:
                return None
            new_param = param + update
            # Only rewrite out-of-bound entries, so in-bound steps stay bit-exact.
            clipped = jnp.clip(new_param, -bound, bound) - param
            return jnp.where(jnp.abs(new_param) <= bound, update, clipped)

        updates = jax.tree.map(
            clip_update, updates, params, is_leaf=lambda x: x is None
        )
        return updates, state

    return optax.GradientTransformation(init_fn, update_fn)


class TrackEmaState(NamedTuple):
    """State of ``track_ema``: updates seen so far and the parameter average."""

    count: jax.Array
    ema: optax.Params


def track_ema(decay: float, warmup: bool = True) -> optax.GradientTransformation:
    """Passes updates through; keeps an EMA of the parameters after each update.

    ema <- d_t * ema + (1 - d_t) * (params + updates), starting from the initial
    params. With ``warmup``, d_t = min(decay, (1 + t) / (10 + t)) where t counts
    earlier updates, so the average forgets the random init quickly. Put it last
    in a chain so it sees the final (e.g. clipped) parameters.
    """
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"track_ema decay must be in [0, 1), got {decay}")

    def init_fn(params):
        # A copy, so that donating params and opt state together never aliases.
        return TrackEmaState(
            count=jnp.zeros([], jnp.int32), ema=jax.tree.map(jnp.copy, params)
        )

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(_NEEDS_PARAMS.format("track_ema"))
        step_decay = jnp.asarray(decay, jnp.float32)
        if warmup:
            t = state.count.astype(jnp.float32)
            step_decay = jnp.minimum(step_decay, (1.0 + t) / (10.0 + t))
        new_params = optax.apply_updates(params, updates)
        averaged = optax.incremental_update(new_params, state.ema, 1.0 - step_decay)
        # Keep the average in the parameters' dtype (the decay is float32).
        averaged = jax.tree.map(lambda a, p: a.astype(p.dtype), averaged, state.ema)
        return updates, TrackEmaState(
            count=optax.safe_int32_increment(state.count), ema=averaged
        )

    return optax.GradientTransformation(init_fn, update_fn)


def ema_params(opt_state: optax.OptState) -> optax.Params | None:
    """The parameter EMA kept by ``track_ema`` anywhere in ``opt_state``, or None.

    Raises ValueError if the state holds more than one ``TrackEmaState``.
    """
    found = [
        node
        for node in jax.tree.leaves(
            opt_state, is_leaf=lambda x: isinstance(x, TrackEmaState)
        )
        if isinstance(node, TrackEmaState)
    ]
    if len(found) > 1:
        raise ValueError(
            f"optimizer state holds {len(found)} track_ema states; expected at most one"
        )
    return found[0].ema if found else None


def player_optimizer(
    learning_rate: optax.ScalarOrSchedule,
    b1: float = 0.5,
    b2: float = 0.999,
    *,
    weight_clip: float | None = None,
    ema_decay: float | None = None,
) -> optax.GradientTransformation:
    """Adam for one player, optionally followed by weight clipping and a param EMA.

    b1 = 0.5 is the DCGAN default. Give each player its own learning rate for
    two-time-scale updates; ``weight_clip`` is for a WGAN critic, ``ema_decay``
    for the generator.
    """
    if not callable(learning_rate) and not learning_rate > 0:
        raise ValueError(
            f"player_optimizer learning_rate must be positive, got {learning_rate}"
        )
    for name, beta in (("b1", b1), ("b2", b2)):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"player_optimizer {name} must be in [0, 1), got {beta}")
    parts = [optax.adam(learning_rate, b1=b1, b2=b2)]
    if weight_clip is not None:
        parts.append(clip_weights(weight_clip))
    if ema_decay is not None:
        parts.append(track_ema(ema_decay))
    return optax.chain(*parts)
