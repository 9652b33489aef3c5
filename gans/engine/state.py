"""The whole state of a run as one pytree: one `Player` per side, the step and the game's state.

A `Player` holds one side's arrays (parameters, optax state, and every mutable Flax collection
of its network: batch statistics, spectral-norm vectors, a tracked average w, ...) with its
network and optax transform as static fields, so the state jits, shards, donates and
checkpoints as a unit while the modules and transforms never enter a trace. A player's network
may hold several networks (CycleGAN's G and F as submodules of one module); one transform then
updates them all, or `optax.multi_transform` gives each its own.
`game_state` holds whatever else a game carries between steps (BEGAN's k_t, a replay buffer).
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from gans import optim

# A network's input: an array, or a dict of keyword inputs ({'z', 'labels'}, {'source'}, ...).
Inputs = Any
ModelState = dict[str, Any]  # Flax collection name -> its variables; {} for a network without any


def call_with_inputs(fn, first: Any, inputs: Inputs, **kwargs):
    """`fn(first, inputs, **kwargs)`, or `fn(first, **inputs, **kwargs)` for dict inputs."""
    if isinstance(inputs, dict):
        return fn(first, **inputs, **kwargs)
    return fn(first, inputs, **kwargs)


def stream_keys(streams: tuple[str, ...], key: jax.Array | None) -> dict[str, jax.Array]:
    """One key per Flax rng stream, each `fold_in(key, i)`; {} when there are no streams."""
    if not streams:
        return {}
    if key is None:
        raise ValueError(f'this network draws from the rng streams {list(streams)}: pass a key')
    return {name: jax.random.fold_in(key, i) for i, name in enumerate(streams)}


class Player(struct.PyTreeNode):
    """One side of the game: a network, its optax transform and their arrays."""
    params: Any
    opt_state: Any
    model_state: ModelState
    network: nn.Module = struct.field(pytree_node=False)
    tx: optax.GradientTransformation = struct.field(pytree_node=False)
    # Flax rng streams the network draws from when applied (e.g. 'dropout'); the key passed
    # to `apply` is split over them.
    rng_streams: tuple[str, ...] = struct.field(pytree_node=False, default=())

    @classmethod
    def create(cls, network: nn.Module, tx: optax.GradientTransformation, key: jax.Array,
               example_inputs: Inputs, rng_streams: tuple[str, ...] = ()) -> Player:
        """Initialises `network` from example inputs (only their shapes matter) and `tx`'s state."""
        # `key` itself initialises the parameters (as `network.init(key, ...)` would); the rng
        # streams get keys of their own.
        rngs = {'params': key, **stream_keys(rng_streams, jax.random.fold_in(key, 1))}
        variables = call_with_inputs(network.init, rngs, example_inputs, train=False)
        variables = dict(variables)
        # A player may have no parameters (a plain VAE's idle discriminator).
        params = variables.pop('params', {})
        return cls(params=params, opt_state=tx.init(params), model_state=variables, network=network, tx=tx,
                   rng_streams=tuple(rng_streams))

    def variables(self, params: Any = None, model_state: ModelState | None = None) -> dict[str, Any]:
        """The Flax variable dict of `params` (default: the player's) and its model state."""
        params = self.params if params is None else params
        model_state = self.model_state if model_state is None else model_state
        return {'params': params, **model_state}

    def apply(self, inputs: Inputs, *, params: Any = None, model_state: ModelState | None = None,
              train: bool = True, key: jax.Array | None = None, method: Any = None,
              **kwargs) -> tuple[Any, ModelState]:
        """(network(inputs), the new model state).

        In training mode every collection of the model state is mutable and comes back
        updated; in inference mode nothing is mutable and the model state comes back as it
        was. `key` feeds the player's rng streams. `params` default to the player's own (pass
        the parameters being differentiated); `model_state` likewise.
        """
        model_state = self.model_state if model_state is None else model_state
        variables = self.variables(params, model_state)
        rngs = stream_keys(self.rng_streams, key)
        if train and model_state:
            out, updates = call_with_inputs(self.network.apply, variables, inputs, train=True,
                                            mutable=list(model_state), rngs=rngs, method=method, **kwargs)
            return out, {**model_state, **updates}
        out = call_with_inputs(self.network.apply, variables, inputs, train=train, rngs=rngs, method=method,
                               **kwargs)
        return out, model_state

    def apply_gradients(self, grads: Any, model_state: ModelState) -> Player:
        """One optax update of the parameters by `grads`; the model state becomes `model_state`."""
        updates, opt_state = self.tx.update(grads, self.opt_state, self.params)
        return self.replace(params=optax.apply_updates(self.params, updates), opt_state=opt_state,
                            model_state=model_state)

    @property
    def ema_params(self) -> Any:
        """The EMA of the parameters when the transform tracks one (`optim.track_ema`), else the parameters."""
        ema = optim.ema_params(self.opt_state)
        return self.params if ema is None else ema


class GANState(struct.PyTreeNode):
    step: jax.Array
    generator: Player
    discriminator: Player
    # A pytree of the game's own arrays; an empty dict for games without any.
    game_state: Any = struct.field(default_factory=dict)

    def generate(self, inputs: Inputs, *, use_ema: bool = True, key: jax.Array | None = None) -> Any:
        """G(inputs) in inference mode (running statistics), from the EMA parameters by default.

        `key` feeds the generator's rng streams (dropout kept on at test time, noise inputs).
        """
        player = self.generator
        return player.apply(inputs, params=player.ema_params if use_ema else player.params, train=False,
                            key=key)[0]


def create_state(generator: nn.Module, discriminator: nn.Module, g_tx: optax.GradientTransformation,
                 d_tx: optax.GradientTransformation, key: jax.Array, g_example: Inputs, d_example: Inputs, *,
                 g_rng_streams: tuple[str, ...] = (), d_rng_streams: tuple[str, ...] = ()) -> GANState:
    """The state at step 0: both players initialised from example inputs (only their shapes matter),
    each an array or a dict of keyword inputs (e.g. {'x': images, 'labels': labels})."""
    g_key, d_key = jax.random.split(key)
    return GANState(step=jnp.zeros((), jnp.int32),
                    generator=Player.create(generator, g_tx, g_key, g_example, g_rng_streams),
                    discriminator=Player.create(discriminator, d_tx, d_key, d_example, d_rng_streams))
