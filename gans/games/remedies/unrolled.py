"""Unrolled discriminator updates (Metz et al. 2017), differentiable in the generator's parameters.

G's loss is taken against D_K, the discriminator after K more updates against the current G:
theta_{k+1} = theta_k + U(grad_theta L_D(theta_k, G), opt_k). Differentiating G's loss through
the whole unroll lets G anticipate D's answer instead of chasing the current D, which is what
keeps it from hopping between modes. The unroll runs in `lax.scan`, so its cost grows with K
but the trace does not. K = 0 is the plain game.

Update rule U: by default the discriminator's own optax transform and its current optimizer
state (Adam with its running moments in this library, as in Metz et al.); pass another
transform (e.g. `optax.sgd(lr)`) to unroll with it from a fresh state instead. The unrolled
parameters only shape G's gradient: D's real update is the engine's, as always.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import optax

from gans.engine.state import GANState

# (d_params, D's model state, g_params, real, key) -> (D loss, D's new model state)
DObjective = Callable[[Any, Any, Any, jax.Array, jax.Array], tuple[jax.Array, Any]]


def unroll_discriminator(d_objective: DObjective, state: GANState, g_params: Any, real: jax.Array,
                         key: jax.Array, steps: int,
                         tx: optax.GradientTransformation | None = None) -> Any:
    """D's parameters after `steps` updates on `real` and fresh fakes of `g_params`.

    Each step draws its own latents (from `key`) and reuses the real batch. The result is a
    differentiable function of `g_params`.
    """
    if steps < 0:
        raise ValueError(f'gan.unroll_steps must be >= 0, got {steps}')
    d = state.discriminator
    if steps == 0:
        return d.params
    if tx is None:
        tx, opt_state = d.tx, d.opt_state
    else:
        opt_state = tx.init(d.params)

    def update(carry, step_key):
        d_params, opt_state, model_state = carry
        grads, model_state = jax.grad(d_objective, has_aux=True)(d_params, model_state, g_params, real, step_key)
        updates, opt_state = tx.update(grads, opt_state, d_params)
        return (optax.apply_updates(d_params, updates), opt_state, model_state), None

    carry = (d.params, opt_state, d.model_state)
    (d_params, _, _), _ = jax.lax.scan(update, carry, jax.random.split(key, steps))
    return d_params
