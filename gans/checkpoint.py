"""Saving and restoring a whole run with orbax: the state pytree, the data position, the config.

Orbax writes each step into a temporary directory and renames it when complete, so a kill
during a save leaves the previous checkpoint intact; `latest_step` only ever sees complete ones.
"""
from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp
from flax import serialization

from gans.state import GANState

CHECKPOINT_DIR = 'checkpoints'


class CheckpointMismatchError(ValueError):
    """A checkpoint whose arrays do not fit the state the config builds."""


class Checkpointer:
    """A thin wrapper over `ocp.CheckpointManager` for GAN runs."""

    def __init__(self, workdir: str, max_to_keep: int = 3):
        self.directory = os.path.abspath(os.path.join(workdir, CHECKPOINT_DIR))
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
            item_names=('state', 'data'))

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def path(self, step: int) -> str:
        return os.path.join(self.directory, str(step))

    def save(self, state: GANState, data_state: dict[str, Any]) -> None:
        """Saves asynchronously at `state.step`; arrays are copied first, so training may go on."""
        step = int(jax.device_get(state.step))
        self._manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(serialization.to_state_dict(state)),
            data=ocp.args.JsonSave(data_state)))

    def restore(self, template: GANState, step: int | None = None) -> tuple[GANState, dict[str, Any]]:
        """Restores into the shapes, dtypes and shardings of `template` (a freshly built state)."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f'no checkpoint in {self.directory}')
        target = jax.tree.map(ocp.utils.to_shape_dtype_struct, serialization.to_state_dict(template))
        try:
            restored = self._manager.restore(step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(target), data=ocp.args.JsonRestore()))
        except (ValueError, KeyError, TypeError) as error:
            raise CheckpointMismatchError(
                f'checkpoint {self.path(step)} does not match the state this config builds '
                f'(another model, dataset shape or optimizer?): {error}') from error
        _check_shapes(target, restored.state, self.path(step))
        return serialization.from_state_dict(template, restored.state), restored.data

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.close()


def _check_shapes(target: Any, restored: Any, path: str) -> None:
    expected = jax.tree_util.tree_flatten_with_path(target)[0]
    got = jax.tree_util.tree_flatten_with_path(restored)[0]
    if len(expected) != len(got):
        raise CheckpointMismatchError(f'checkpoint {path} holds {len(got)} arrays, the config builds {len(expected)}')
    for (key, want), (_, have) in zip(expected, got):
        if tuple(want.shape) != tuple(have.shape):
            raise CheckpointMismatchError(
                f'checkpoint {path}: {jax.tree_util.keystr(key)} has shape {tuple(have.shape)}, '
                f'the config builds {tuple(want.shape)}')
