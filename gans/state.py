"""The whole state of a two-player run as one pytree.

Arrays (params, optimizer states, batch statistics, step) are pytree leaves, so the state
can be jitted, sharded, donated and checkpointed as a unit; the networks and optax
transforms are static fields, so they travel with the state but never enter a trace.
`game_state` holds whatever else a game carries between steps (BEGAN's k_t, a replay buffer of
past fakes); the game initialises it and returns its new value from the discriminator loss.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from gans import optim

# A generator's input: z alone, or a dict of keyword inputs ({'z', 'labels', 'codes', ...}).
Latents = jax.Array | dict[str, jax.Array]


class GANState(struct.PyTreeNode):
    step: jax.Array
    g_params: Any
    d_params: Any
    g_opt_state: Any
    d_opt_state: Any
    # Empty dicts for networks without batch norm.
    g_batch_stats: Any
    d_batch_stats: Any
    generator: nn.Module = struct.field(pytree_node=False)
    discriminator: nn.Module = struct.field(pytree_node=False)
    g_tx: optax.GradientTransformation = struct.field(pytree_node=False)
    d_tx: optax.GradientTransformation = struct.field(pytree_node=False)
    # A pytree of the game's own arrays; an empty dict for the plain game.
    game_state: Any = struct.field(default_factory=dict)

    @property
    def ema_params(self) -> Any:
        """The generator's EMA parameters when its optimizer tracks them, else its parameters."""
        ema = optim.ema_params(self.g_opt_state)
        return self.g_params if ema is None else ema

    def generate(self, latents: Latents, *, use_ema: bool = True) -> jax.Array:
        """G(latents) in inference mode (running batch statistics), from the EMA parameters by default."""
        params = self.ema_params if use_ema else self.g_params
        return apply_with_inputs(self.generator, variables(params, self.g_batch_stats), latents, train=False)


def apply_with_inputs(module: nn.Module, variables_or_key: Any, inputs: Any, *, init: bool = False, **kwargs):
    """`module.apply` (or `init`) on network inputs given as an array or as a dict of keyword arguments.

    Unconditional generators take `z` alone; conditional ones take a dict such as
    {'z': ..., 'labels': ...} (see `gans.games`), passed as keyword arguments.
    """
    call = module.init if init else module.apply
    if isinstance(inputs, dict):
        return call(variables_or_key, **inputs, **kwargs)
    return call(variables_or_key, inputs, **kwargs)


def variables(params: Any, batch_stats: Any) -> dict:
    """Flax variable dict for `apply`, omitting empty batch statistics."""
    return {'params': params, 'batch_stats': batch_stats} if batch_stats else {'params': params}


def create_state(generator: nn.Module, discriminator: nn.Module, g_tx: optax.GradientTransformation,
                 d_tx: optax.GradientTransformation, key: jax.Array, z_example: Latents,
                 x_example: Latents) -> GANState:
    """Initialises both players from example inputs (only their shapes matter).

    Each example is an array or a dict of keyword inputs (e.g. {'x': images, 'labels': labels}).
    """
    g_key, d_key = jax.random.split(key)
    g_vars = apply_with_inputs(generator, g_key, z_example, init=True, train=False)
    d_vars = apply_with_inputs(discriminator, d_key, x_example, init=True, train=False)
    # .get: a player may have no parameters (a plain VAE's idle discriminator).
    g_params, d_params = g_vars.get('params', {}), d_vars.get('params', {})
    return GANState(
        step=jnp.zeros((), jnp.int32),
        g_params=g_params, d_params=d_params,
        g_opt_state=g_tx.init(g_params), d_opt_state=d_tx.init(d_params),
        g_batch_stats=g_vars.get('batch_stats', {}), d_batch_stats=d_vars.get('batch_stats', {}),
        generator=generator, discriminator=discriminator, g_tx=g_tx, d_tx=d_tx)

