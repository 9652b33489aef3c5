"""The jitted train step: `train_step(state, batch, key) -> (state, metrics)` for every game.

The step folds its number into the run's key, asks the game for the generator's inputs, takes
`d_steps` discriminator updates (one per slice of the batch) and one generator update, each
optionally accumulated over micro-batches, and returns a new state. Both players update through
the same code path (`Player.apply_gradients`); the step never names a game. Jitted over a mesh
it runs unchanged on 1 or N devices: batch norm and every loss mean are over the global batch
because jit sees global arrays.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, Sharding

from gans.engine import compile_options, sharding
from gans.engine.state import GANState
from gans.games.base import GENERATOR_INPUTS, Game

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]
TrainStep = Callable[[GANState, Batch, jax.Array], tuple[GANState, Metrics]]
LossFn = Callable[[Any, GANState, Batch, jax.Array], Any]

# Purposes folded into the step key, so no two uses of randomness ever share a key.
_D_PURPOSE, _G_PURPOSE, _D_INPUTS_PURPOSE = 0, 1, 2


def split_interleaved(tree: Any, parts: int, what: str) -> Any:
    """Every leaf [parts*n, ...] -> [parts, n, ...], row i of part j being row i*parts + j.

    Interleaving (rather than taking contiguous chunks) keeps every device's rows on that
    device when the leading axis is sharded, so the split moves no data.
    """
    def split(x):
        if x.shape[0] % parts:
            raise ValueError(f'batch of {x.shape[0]} examples does not split into {parts} {what}')
        return jnp.moveaxis(x.reshape(x.shape[0] // parts, parts, *x.shape[1:]), 1, 0)
    return jax.tree.map(split, tree)


def split_for_d_steps(batch: Batch, d_steps: int) -> Batch:
    """[k*B, ...] -> [k, B, ...]: one interleaved slice of the batch per discriminator step."""
    return split_interleaved(batch, d_steps, 'discriminator steps')


def accumulated_grad(loss_fn: LossFn, params: Any, state: GANState, batch: Batch, key: jax.Array,
                     micro_batches: int) -> tuple[Any, Any]:
    """`jax.grad(loss_fn, has_aux=True)` on `batch`, averaged over `micro_batches` interleaved slices.

    The slices run one after another in a `lax.scan`, so only one slice's activations are alive
    at a time. Gradients, metrics and model state are averaged: for losses that are means over
    examples this is the whole batch's gradient, and running batch-norm means move by the whole
    batch's mean (the statistics used to normalise are still per slice). Each slice gets its own
    key (`split(key, micro_batches)`), so randomness inside a loss, such as the gradient
    penalty's interpolation points, is drawn afresh per slice, not as for the whole batch.
    """
    grad_fn = jax.grad(loss_fn, has_aux=True)
    if micro_batches == 1:
        return grad_fn(params, state, batch, key)
    slices = split_interleaved(batch, micro_batches, 'micro-batches')
    keys = jax.random.split(key, micro_batches)

    def add_slice(total, inputs):
        micro_batch, micro_key = inputs
        return jax.tree.map(jnp.add, total, grad_fn(params, state, micro_batch, micro_key)), None

    shapes = jax.eval_shape(grad_fn, params, state, jax.tree.map(lambda x: x[0], slices), keys[0])
    zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
    total, _ = jax.lax.scan(add_slice, zeros, (slices, keys))
    return jax.tree.map(lambda x: x / micro_batches, total)


def with_generator_inputs(game: Game, batch: Batch, key: jax.Array, batch_sharding: Sharding | None = None) -> Batch:
    """`batch` with one generator input per example under `GENERATOR_INPUTS` (the fakes that face it).

    Drawn here for the whole batch, then split with it (per D step and per micro-batch), so that
    micro-batching splits the fakes as it splits the real examples. With `batch_sharding` the
    inputs are laid out like the batch, so each device generates and judges only its own fakes
    (drawn from a replicated key they would otherwise be replicated, and so would G's work).
    """
    inputs = game.generator_inputs(batch, key)
    if batch_sharding is not None:
        inputs = jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, batch_sharding), inputs)
    return {**batch, GENERATOR_INPUTS: inputs}


def _update(state: GANState, player: str, loss_fn: LossFn, batch: Batch, key: jax.Array,
            micro_batches: int) -> tuple[GANState, Metrics]:
    """One optax update of `player` ('generator' | 'discriminator') by the gradient of `loss_fn`."""
    current = getattr(state, player)
    grads, aux = accumulated_grad(loss_fn, current.params, state, batch, key, micro_batches)
    return state.replace(**{player: current.apply_gradients(grads, aux.model_state)},
                         game_state=aux.game_state), aux.metrics


def make_train_step(game: Game, *, d_steps: int = 1, simultaneous: bool = False, micro_batches: int = 1,
                    batch_sharding: Sharding | None = None) -> TrainStep:
    """Builds the (unjitted) step: `d_steps` D updates, then one G update.

    With `simultaneous`, G's gradient is taken at the parameters before D's updates (both
    players move from the same point); otherwise G responds to the updated D. The game state
    follows the order the losses are taken in: D's then G's, or with `simultaneous` G's then D's.
    The batch carries `d_steps * B` examples: a fresh real batch for each D update. The
    generator's inputs are drawn by the step, B per D update (purpose `_D_INPUTS_PURPOSE`) and B
    for G (from G's key), and reach the game in the batch under `GENERATOR_INPUTS`.

    `micro_batches` > 1 takes each update's gradient as the average over that many interleaved
    slices of its B examples and fakes (`accumulated_grad`), then applies the optax transform
    once. Without batch norm, batch features or randomness inside the losses this is the large
    batch's update up to float rounding. Games that carry state (a replay buffer, BEGAN's k_t)
    are refused, since their state would advance once per slice; a game refuses other options it
    cannot play with in `game.check_step`.

    `batch_sharding` (the batch's, from `jit_train_step`'s mesh) is where the drawn inputs go.
    """
    if d_steps < 1:
        raise ValueError(f'd_steps must be >= 1, got {d_steps}')
    if not isinstance(micro_batches, int) or micro_batches < 1:
        raise ValueError(f'micro_batches must be a positive integer, got {micro_batches!r}')
    game.check_step(micro_batches=micro_batches, d_steps=d_steps)

    def d_update(state: GANState, inputs: tuple[Batch, jax.Array]) -> tuple[GANState, Metrics]:
        real, key = inputs
        return _update(state, 'discriminator', game.d_loss, real, key, micro_batches)

    def train_step(state: GANState, batch: Batch, key: jax.Array) -> tuple[GANState, Metrics]:
        if micro_batches > 1 and jax.tree.leaves(state.game_state):
            raise ValueError(f'micro_batches > 1 needs a game without game state; this one carries '
                             f'{sorted(state.game_state)} (a replay buffer or BEGAN\'s k_t), which its losses '
                             f'would advance once per micro-batch')
        key = jax.random.fold_in(key, state.step)
        d_keys = jax.random.split(jax.random.fold_in(key, _D_PURPOSE), d_steps)
        g_key = jax.random.fold_in(key, _G_PURPOSE)
        batch = with_generator_inputs(game, batch, jax.random.fold_in(key, _D_INPUTS_PURPOSE), batch_sharding)
        real = split_for_d_steps(batch, d_steps)
        first = jax.tree.map(lambda x: x[0], real)
        # G's fakes are fresh, drawn from G's key as the game itself would draw them.
        g_batch = with_generator_inputs(game, first, g_key, batch_sharding)

        def g_update(state: GANState) -> tuple[GANState, Metrics]:
            return _update(state, 'generator', game.g_loss, g_batch, g_key, micro_batches)

        if simultaneous:
            # G's gradient at the pre-update D; its update lands after D's (G's loss does not read
            # G's own new parameters, so the order of applying the two updates does not matter).
            g_current = state.generator
            g_grads, g_aux = accumulated_grad(game.g_loss, g_current.params, state, g_batch, g_key, micro_batches)
            state = state.replace(game_state=g_aux.game_state)
        if d_steps == 1:
            # No scan for one D step: XLA:CPU runs some convolution gradients slower inside loops.
            state, d_metrics = d_update(state, (first, d_keys[0]))
        else:
            state, d_metrics = jax.lax.scan(d_update, state, (real, d_keys))
        if simultaneous:
            state = state.replace(generator=g_current.apply_gradients(g_grads, g_aux.model_state))
            g_metrics = g_aux.metrics
        else:
            state, g_metrics = g_update(state)
        metrics = {**jax.tree.map(jnp.mean, d_metrics), **g_metrics}
        return state.replace(step=state.step + 1), metrics

    return train_step


def jit_train_step(train_step: TrainStep, mesh: Mesh, cpu_convolutions: str = 'eigen') -> TrainStep:
    """Jits the step over `mesh`: batch split on `data`, state and key replicated, state donated;
    on CPU, convolutions by `cpu_convolutions` ('eigen' | 'xla_default', see gans.engine.compile_options)."""
    replicated = sharding.replicated(mesh)
    options = compile_options.compiler_options(cpu_convolutions, compile_options.mesh_platform(mesh))
    return jax.jit(train_step, in_shardings=(replicated, sharding.batch_sharding(mesh), replicated),
                   out_shardings=(replicated, replicated), donate_argnums=0, compiler_options=options)


