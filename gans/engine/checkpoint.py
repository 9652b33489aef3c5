"""Saving and restoring a whole run with orbax: the state pytree and the data iterator's position.

A step's checkpoint is *complete* when orbax has finalised it: written under a temporary name,
`commit_success.txt` added, then renamed to `checkpoints/<step>`. A kill during a save leaves a
`<step>.orbax-checkpoint-tmp-*` directory (or, on file systems without atomic rename, a step
directory without the marker); `latest_step` skips those, so a run resumes from the last complete
checkpoint, and `set_aside_incomplete` moves them out of orbax's way (nothing is deleted).

Restoring compares every array's path, shape and dtype with the checkpoint's metadata first, so a
checkpoint of another model or size fails with a `CheckpointMismatchError` naming the arrays.
Each checkpoint also carries a digest record (gans.engine.integrity) that a restore verifies: a
checkpoint damaged after its commit fails with a `CheckpointIntegrityError`, and training sets it
aside in `damaged_checkpoints/` and resumes from the newest one that verifies.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import time
from typing import Any

import jax
import orbax.checkpoint as ocp
from flax import serialization

from gans.engine import integrity
from gans.engine.integrity import CheckpointIntegrityError
from gans.engine.state import GANState

CHECKPOINT_DIR = 'checkpoints'
INCOMPLETE_DIR = 'incomplete_checkpoints'  # next to CHECKPOINT_DIR, where orbax never looks
DAMAGED_DIR = 'damaged_checkpoints'
INTEGRITY_ITEM = 'integrity'
COMMIT_MARKER = 'commit_success.txt'
_TMP_SUFFIX = '.orbax-checkpoint-tmp'
_SHOWN = 5  # mismatching arrays named in an error


class CheckpointMismatchError(ValueError):
    """A checkpoint whose arrays do not fit the state the config builds."""


class CheckpointSaveError(OSError):
    """A save that failed (a full disk, a quota, a lost mount); the checkpoints before it are intact."""


class Checkpointer:
    """A thin wrapper over `ocp.CheckpointManager` for GAN runs."""

    def __init__(self, workdir: str, max_to_keep: int = 3):
        self.directory = os.path.abspath(os.path.join(workdir, CHECKPOINT_DIR))
        self.incomplete_directory = os.path.abspath(os.path.join(workdir, INCOMPLETE_DIR))
        self.damaged_directory = os.path.abspath(os.path.join(workdir, DAMAGED_DIR))
        self._in_flight: int | None = None  # step of the asynchronous save not yet known committed
        # Explicit handlers let orbax read a checkpoint's metadata before restoring it.
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
            item_handlers={'state': ocp.StandardCheckpointHandler(), 'data': ocp.JsonCheckpointHandler(),
                           INTEGRITY_ITEM: ocp.JsonCheckpointHandler()})

    def reload(self) -> None:
        """Re-reads the directory (checkpoints another process wrote since)."""
        self._manager.reload()

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
        return self._set_aside(self.incomplete() if jax.process_index() == 0 else [], self.incomplete_directory,
                               'is an incomplete checkpoint (a save was interrupted)')

    def _set_aside(self, paths: list[str], directory: str, why: str) -> list[str]:
        moved = []
        stamp = time.strftime('%Y%m%d-%H%M%S')
        for path in paths:
            os.makedirs(directory, exist_ok=True)
            target = os.path.join(directory, f'{os.path.basename(path)}.{stamp}')
            shutil.move(path, target)
            moved.append(f'{path} {why}; moved it to {target}')
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils
            multihost_utils.sync_global_devices(f'gans: checkpoints set aside to {os.path.basename(directory)}')
        if moved or jax.process_count() > 1:
            self._manager.reload()
        return moved

    def save(self, state: GANState, data_state: dict[str, Any]) -> None:
        """Saves asynchronously at `state.step`, with the digest record of what is saved.

        The arrays are copied to the host first (for the digest, and by orbax), so training may go
        on. A state holding NaN or Inf is not saved (it would rotate good checkpoints out): raises
        `integrity.NonFiniteStateError` naming the arrays.
        """
        step = int(jax.device_get(state.step))
        state_dict = serialization.to_state_dict(state)
        record = integrity.record(state_dict, data_state)
        if not record['finite']:
            raise integrity.NonFiniteStateError(
                f'the state at step {step} holds NaN or Inf in {", ".join(record["non_finite"])}; not saved')
        with self._saving(step):
            self._manager.save(step, args=ocp.args.Composite(
                state=ocp.args.StandardSave(state_dict), data=ocp.args.JsonSave(data_state),
                **{INTEGRITY_ITEM: ocp.args.JsonSave(record)}))
        self._seal(self._in_flight)  # orbax finished the previous save before starting this one
        self._in_flight = step

    def restore(self, template: GANState, step: int | None = None) -> tuple[GANState, dict[str, Any]]:
        """Restores into the shapes, dtypes and shardings of `template` (a freshly built state), and
        verifies what was read against the checkpoint's digest record.

        The shardings come from `template`, so a checkpoint saved on N devices restores on any
        other number (the state is replicated). Raises CheckpointMismatchError for a checkpoint of
        another model, CheckpointIntegrityError for one whose bytes changed after it was saved.
        """
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f'no complete checkpoint in {self.directory}')
        if not self._is_complete(step):
            raise FileNotFoundError(f'{self.path(step)} is not a complete checkpoint')
        where = f'checkpoint {self.path(step)}'
        integrity.verify_files(self.path(step), where)  # first: damaged files may not even parse
        target = jax.tree.map(ocp.utils.to_shape_dtype_struct, serialization.to_state_dict(template))
        try:
            metadata = self._manager.item_metadata(step)['state']
        except Exception as error:  # noqa: BLE001 - any failure to read it is damage
            raise CheckpointIntegrityError(f'{where} cannot be read: its metadata is damaged ({error})') from error
        _check_matches(target, metadata, self.path(step))
        has_record = os.path.isdir(os.path.join(self.path(step), INTEGRITY_ITEM))
        items = {'state': ocp.args.StandardRestore(target), 'data': ocp.args.JsonRestore()}
        if has_record:
            items[INTEGRITY_ITEM] = ocp.args.JsonRestore()
        try:
            restored = self._manager.restore(step, args=ocp.args.Composite(**items))
        except Exception as error:  # noqa: BLE001 - shapes and names matched above, so this is damage
            raise CheckpointIntegrityError(f'{where} cannot be read: {type(error).__name__}: {error}') from error
        if has_record:
            integrity.verify(restored[INTEGRITY_ITEM], restored.state, restored.data, where)
        return serialization.from_state_dict(template, restored.state), restored.data

    def restore_newest_verified(self, template: GANState) -> tuple[GANState | None, dict | None, list[str]]:
        """The newest checkpoint that verifies, setting aside each damaged one newer than it.

        Returns (state, data state, messages); state is None when there is no checkpoint. Every
        process must call this. A run whose checkpoints are all damaged raises, keeping them aside.
        """
        messages = []
        for step in reversed(self.all_steps()):
            try:
                return (*self.restore(template, step), messages)
            except CheckpointIntegrityError as error:
                paths = [self.path(step)] if jax.process_index() == 0 else []
                messages += [str(error)] + self._set_aside(paths, self.damaged_directory, 'is damaged')
        if messages:
            raise CheckpointIntegrityError(
                f'every checkpoint of this run is damaged, so there is nothing to resume from: '
                f'{" | ".join(messages)}. They are kept in {self.damaged_directory}; run again to start over')
        return None, None, messages

    def wait(self) -> None:
        """Blocks until the save in flight is committed; CheckpointSaveError if it failed."""
        with self._saving(self._in_flight):
            self._manager.wait_until_finished()
        self._seal(self._in_flight)
        self._in_flight = None

    def _seal(self, step: int | None) -> None:
        """Records the digest of every file of a committed checkpoint (process 0)."""
        if step is not None and jax.process_index() == 0 and self._is_complete(step):
            integrity.write_file_digests(self.path(step))

    @contextlib.contextmanager
    def _saving(self, step: int | None):
        """Turns a failed write (here, or of the asynchronous save in flight) into CheckpointSaveError."""
        failed = self._in_flight if self._in_flight is not None else step
        try:
            yield
        except Exception as error:  # noqa: BLE001 - orbax re-raises its writer's errors as they come
            self._in_flight = None
            kept = [s for s in self.all_steps() if s != failed]
            intact = (f'the previous checkpoint, step {kept[-1]} at {self.path(kept[-1])}, is intact'
                      if kept else 'no earlier checkpoint exists')
            raise CheckpointSaveError(
                f'saving the checkpoint of step {failed} under {self.directory} failed '
                f'({type(error).__name__}: {error}); is the disk full? Training stopped; {intact}. Free space '
                f'and run the same command to resume (the partial save is set aside then)') from error

    def close(self) -> None:
        self._manager.close()

    def _is_complete(self, step: int) -> bool:
        return os.path.isfile(os.path.join(self.path(step), COMMIT_MARKER))


def _check_matches(target: Any, saved: Any, path: str) -> None:
    """Raises CheckpointMismatchError naming the arrays whose presence, shape or dtype differ."""
    want = {integrity.name_of(k): v for k, v in jax.tree_util.tree_flatten_with_path(target)[0]}
    have = {integrity.name_of(k): v for k, v in jax.tree_util.tree_flatten_with_path(saved)[0]}
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


def _params_first(names) -> list[str]:
    """Parameters name a mismatch most plainly; optimizer and batch-norm copies of them follow."""
    return sorted(names, key=lambda n: (not n.startswith(('generator.params', 'discriminator.params', 'step')), n))
