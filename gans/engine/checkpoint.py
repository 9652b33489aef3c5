"""Saving and restoring a whole run with orbax: the state pytree and the data iterator's position.

A step's checkpoint is *complete* when orbax has finalised it: written under a temporary name,
`commit_success.txt` added, then renamed to `checkpoints/<step>`. A kill during a save leaves a
`<step>.orbax-checkpoint-tmp-*` directory (or, on file systems without atomic rename, a step
directory without the marker); `latest_step` skips those, so a run resumes from the last complete
checkpoint, and `set_aside_incomplete` moves them out of orbax's way (nothing is deleted).

Restoring compares every array's path, shape and dtype with the checkpoint's metadata first, so a
checkpoint of another model or size fails with a `CheckpointMismatchError` naming the arrays.
"""
from __future__ import annotations

import os
import shutil
import time
from typing import Any

import jax
import orbax.checkpoint as ocp
from flax import serialization

from gans.engine.state import GANState

CHECKPOINT_DIR = 'checkpoints'
INCOMPLETE_DIR = 'incomplete_checkpoints'  # next to CHECKPOINT_DIR, where orbax never looks
COMMIT_MARKER = 'commit_success.txt'
_TMP_SUFFIX = '.orbax-checkpoint-tmp'
_SHOWN = 5  # mismatching arrays named in an error


class CheckpointMismatchError(ValueError):
    """A checkpoint whose arrays do not fit the state the config builds."""


class Checkpointer:
    """A thin wrapper over `ocp.CheckpointManager` for GAN runs."""

    def __init__(self, workdir: str, max_to_keep: int = 3):
        self.directory = os.path.abspath(os.path.join(workdir, CHECKPOINT_DIR))
        self.incomplete_directory = os.path.abspath(os.path.join(workdir, INCOMPLETE_DIR))
        # Explicit handlers let orbax read a checkpoint's metadata before restoring it.
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
            item_handlers={'state': ocp.StandardCheckpointHandler(), 'data': ocp.JsonCheckpointHandler()})

    def all_steps(self) -> list[int]:
        """Steps with a complete checkpoint, oldest first."""
        return sorted(s for s in self._manager.all_steps() if self._is_complete(s))

    def latest_step(self) -> int | None:
        steps = self.all_steps()
        return steps[-1] if steps else None

    def path(self, step: int) -> str:
        return os.path.join(self.directory, str(step))

    def incomplete(self) -> list[str]:
        """Paths of interrupted saves: orbax temporary directories and step directories without the marker."""
        if not os.path.isdir(self.directory):
            return []
        found = []
        for name in sorted(os.listdir(self.directory)):
            path = os.path.join(self.directory, name)
            if not os.path.isdir(path):
                continue
            if _TMP_SUFFIX in name or (name.isdigit() and not self._is_complete(int(name))):
                found.append(path)
        return found

    def set_aside_incomplete(self) -> list[str]:
        """Moves interrupted saves to `incomplete_checkpoints/` so that their steps can be saved again.

        Returns one line per moved directory. Process 0 moves; every process must call this
        (they wait for each other, then all see the same checkpoints).
        """
        moved = []
        if jax.process_index() == 0:
            stamp = time.strftime('%Y%m%d-%H%M%S')
            for path in self.incomplete():
                os.makedirs(self.incomplete_directory, exist_ok=True)
                target = os.path.join(self.incomplete_directory, f'{os.path.basename(path)}.{stamp}')
                shutil.move(path, target)
                moved.append(f'{path} is an incomplete checkpoint (a save was interrupted); moved it to {target}')
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils
            multihost_utils.sync_global_devices('gans: incomplete checkpoints set aside')
        if moved or jax.process_count() > 1:
            self._manager.reload()
        return moved

    def save(self, state: GANState, data_state: dict[str, Any]) -> None:
        """Saves asynchronously at `state.step`; arrays are copied first, so training may go on."""
        step = int(jax.device_get(state.step))
        self._manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(serialization.to_state_dict(state)),
            data=ocp.args.JsonSave(data_state)))

    def restore(self, template: GANState, step: int | None = None) -> tuple[GANState, dict[str, Any]]:
        """Restores into the shapes, dtypes and shardings of `template` (a freshly built state).

        The shardings come from `template`, so a checkpoint saved on N devices restores on any
        other number (the state is replicated).
        """
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f'no complete checkpoint in {self.directory}')
        if not self._is_complete(step):
            raise FileNotFoundError(f'{self.path(step)} is not a complete checkpoint')
        target = jax.tree.map(ocp.utils.to_shape_dtype_struct, serialization.to_state_dict(template))
        _check_matches(target, self._manager.item_metadata(step)['state'], self.path(step))
        try:
            restored = self._manager.restore(step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(target), data=ocp.args.JsonRestore()))
        except (ValueError, KeyError, TypeError) as error:
            raise CheckpointMismatchError(
                f'checkpoint {self.path(step)} does not match the state this config builds: {error}') from error
        return serialization.from_state_dict(template, restored.state), restored.data

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.close()

    def _is_complete(self, step: int) -> bool:
        return os.path.isfile(os.path.join(self.path(step), COMMIT_MARKER))


def _check_matches(target: Any, saved: Any, path: str) -> None:
    """Raises CheckpointMismatchError naming the arrays whose presence, shape or dtype differ."""
    want = {_name(k): v for k, v in jax.tree_util.tree_flatten_with_path(target)[0]}
    have = {_name(k): v for k, v in jax.tree_util.tree_flatten_with_path(saved)[0]}
    if any(n.startswith('g_params.') for n in have) and not any(n.startswith('generator.') for n in have):
        raise CheckpointMismatchError(
            f'checkpoint {path} was written by an older version of gans, which stored g_params, d_params, ... '
            f'side by side; this version stores each player as one struct (generator.params, '
            f'generator.opt_state, generator.model_state, ...) and cannot restore it. Nothing was changed: '
            f'train into a new workdir, or read it with the version that wrote it')
    problems = []
    for names, where in ((have.keys() - want.keys(), 'the checkpoint'), (want.keys() - have.keys(), 'the config')):
        if names:
            problems.append(f'{len(names)} arrays only in {where} ({_some(_params_first(names))})')
    differ = []
    for name in _params_first(want.keys() & have.keys()):
        shape, dtype = tuple(getattr(have[name], 'shape', ()) or ()), getattr(have[name], 'dtype', None)
        if shape != tuple(want[name].shape):
            differ.append(f'{name} is {shape} in the checkpoint, {tuple(want[name].shape)} in the config')
        elif dtype is not None and jax.numpy.dtype(dtype) != want[name].dtype:
            differ.append(f'{name} is {dtype} in the checkpoint, {want[name].dtype} in the config')
    if differ:
        problems.append(f'{len(differ)} arrays differ in shape or dtype: {_some(differ, "; ")}')
    if problems:
        raise CheckpointMismatchError(
            f'checkpoint {path} does not match the state this config builds (another model, size or '
            f'optimizer?): {"; ".join(problems)}. Nothing was changed; use another --workdir or the '
            f'config the run was started with')


def _some(items: list[str], sep: str = ', ') -> str:
    return sep.join(items[:_SHOWN]) + (f', ... ({len(items) - _SHOWN} more)' if len(items) > _SHOWN else '')


def _name(path) -> str:
    return '.'.join(str(getattr(k, 'key', getattr(k, 'idx', k))) for k in path)


def _params_first(names) -> list[str]:
    """Parameters name a mismatch most plainly; optimizer and batch-norm copies of them follow."""
    return sorted(names, key=lambda n: (not n.startswith(('generator.params', 'discriminator.params', 'step')), n))
