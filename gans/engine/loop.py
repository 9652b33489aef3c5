"""The training loop: data in, train steps, and the run's outputs (logs, sample grids, checkpoints).

Re-running with the same workdir resumes from its latest complete checkpoint: the state (each
player's params, optimizer state with the EMA and model collections, the game's state, the step)
and the data iterator's position. Keys
are `fold_in(train_key(seed), step)` inside the step, so a resumed run draws the same numbers
as an uninterrupted one and reproduces it bit for bit on the same devices. SIGTERM or SIGINT
stops after the step in flight with a checkpoint at that step (gans.engine.preemption).

Multi-process: every process runs this function on its own slice of the data; all of them take
part in the step, in sample-grid generation (the state spans every process's devices) and in
checkpointing, as orbax requires; only process 0 writes logs, images and config.json.
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import math
import os
import sys
import time

import jax
import ml_collections
import numpy as np

from gans import config as config_lib
from gans import data
from gans.inference import evaluate, sampling
from gans.engine import resume_config, sharding, workdir_lock
from gans.engine.checkpoint import Checkpointer, CheckpointMismatchError
from gans.engine.integrity import NonFiniteStateError
from gans.engine.preemption import StopSignal
from gans.engine.state import GANState
from gans.games.base import Batch
from gans.engine.experiment import Experiment, build_experiment, sample_key, train_key
from gans.engine.writers import METRICS_FILENAME, MetricWriter, ProgressBar, drop_metrics_after

SAMPLES_DIR = 'samples'
# The scalars TensorBoard's HParams tab shows beside each run's config (blank where a game logs none).
HPARAMS_METRICS = ('d_loss', 'g_loss', 'eval/fid')


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or Inf; the message names the step and the last good checkpoint."""


def make_data_iterator(config: ml_collections.ConfigDict):
    return data.make_iterator(
        config.dataset, split='train', global_batch_size=config.batch_size * config.optim.d_steps,
        seed=config.seed, image_size=config.image_size, data_dir=config.data_dir)


def train(config: ml_collections.ConfigDict, workdir: str, *, allow_config_change: bool = False) -> GANState:
    """Trains `config` for `config.num_steps` steps in `workdir`, resuming if it holds a checkpoint.

    The workdir is locked for the run (a second training on it raises WorkdirLockedError). A resume
    whose config differs from the run's config.json in more than `config_lib.RESUMABLE_FIELDS`
    raises ConfigChangedError unless `allow_config_change`. Returns the final state, or the state at
    which SIGTERM/SIGINT stopped the run (saved).
    """
    config_lib.validate(config)
    with _locked_for_run(workdir):
        return _train(config, workdir, allow_config_change)


@contextlib.contextmanager
def _locked_for_run(workdir: str):
    """Process 0 takes the workdir's lock; every process learns whether it got it."""
    path, error = None, None
    if jax.process_index() == 0:
        try:
            path = workdir_lock.acquire(workdir)
        except workdir_lock.WorkdirLockedError as locked:
            error = locked
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils
        if not multihost_utils.broadcast_one_to_all(np.int32(error is None)) and error is None:
            error = workdir_lock.WorkdirLockedError(
                f'process 0 of this run could not lock {workdir}: another training run is using it')
    if error is not None:
        raise error
    try:
        yield
    finally:
        if path:
            workdir_lock.release(path)


def _train(config: ml_collections.ConfigDict, workdir: str, allow_config_change: bool) -> GANState:
    is_writer = jax.process_index() == 0
    checkpointer = Checkpointer(workdir, max_to_keep=config.max_to_keep)
    try:
        # First, so that a refused change is named at once and leaves the workdir as it was.
        changed = resume_config.check(workdir, config, allow_config_change) if checkpointer.all_steps() else {}
        os.makedirs(os.path.join(workdir, SAMPLES_DIR), exist_ok=True)
        mesh = sharding.make_mesh(config.num_devices)
        experiment = build_experiment(config, data.config_spec(config), mesh)
        iterator = make_data_iterator(config)
        state = _resume_or_start(config, workdir, experiment, iterator, checkpointer, is_writer, changed,
                                 allow_config_change)
        with StopSignal() as stop:
            return _run(config, workdir, experiment, state, iterator, checkpointer, stop, is_writer)
    finally:
        checkpointer.wait()
        checkpointer.close()


def _resume_or_start(config, workdir, experiment, iterator, checkpointer, is_writer, changed,
                     allow_config_change) -> GANState:
    for line in checkpointer.set_aside_incomplete():
        _say(is_writer, line)
    try:
        state, data_state, messages = checkpointer.restore_newest_verified(experiment.state)
    except CheckpointMismatchError as error:
        if changed:
            differs = ', '.join(f'{name}: {old!r} -> {new!r}' for name, (old, new) in changed.items())
            raise CheckpointMismatchError(f'{error}. This config differs from {workdir}/config.json in: '
                                          f'{differs}') from error
        raise
    for line in messages:
        _say(is_writer, line)
    if state is None:
        if is_writer:
            config_lib.save_config(config, workdir)
            drop_metrics_after(workdir, 0)  # from a run that died before its first checkpoint
        return experiment.state
    iterator.set_state(data_state)
    step = int(jax.device_get(state.step))
    if is_writer:
        resume_config.record(workdir, config, changed, step, allow_config_change)
        for name, (old, new) in changed.items():
            _say(True, f'config changed on resume at step {step}: {name}: {old!r} -> {new!r}')
        dropped = drop_metrics_after(workdir, step)
        _say(True, f'resumed from step {step} ({checkpointer.path(step)})' +
             (f'; moved {dropped} metric lines logged after it to {METRICS_FILENAME}.dropped' if dropped else ''))
    return state


def _run(config, workdir, experiment, state, iterator, checkpointer, stop, is_writer) -> GANState:
    mesh = experiment.mesh
    writer = MetricWriter(workdir, enabled=is_writer)
    start = int(jax.device_get(state.step))
    writer.text('config', config.to_json(indent=2), start)
    writer.hparams(config.to_dict(), HPARAMS_METRICS, start)
    progress = ProgressBar(config.num_steps, start, enabled=is_writer)
    key = sharding.replicate(train_key(config), mesh)
    # Replicated like the state, so that every process generates the grid with the same program.
    heldout = _preview_examples(experiment)
    grid_inputs = sharding.replicate(_grid_inputs(experiment, heldout), mesh)
    grid_key = sharding.replicate(jax.random.fold_in(sample_key(config), 1), mesh)
    log_every = config.log_every
    pending: list[tuple[int, dict]] = []
    # The NaN guard's "last good" checkpoint: a state with NaN or Inf is never saved (_save).
    last_good = last_saved = checkpointer.latest_step()
    started = time.perf_counter()
    try:
        for step in range(start + 1, config.num_steps + 1):
            batch = sharding.global_batch(next(iterator), mesh)
            state, metrics = experiment.train_step(state, batch, key)
            pending.append((step, metrics))
            is_last = step == config.num_steps
            stopping = not is_last and stop.should_stop(step)
            if step % log_every == 0 or is_last or stopping:
                summary = _check_and_average(pending, checkpointer, last_good)
                summary['steps_per_s'] = (step - start) / (time.perf_counter() - started)
                writer.write(step, summary)
                progress.update(step, summary)
                pending = []
                _release_free_heap()
            if step % config.sample_every == 0 or is_last:
                _check_and_average(pending, checkpointer, last_good)
                samples = sampling.generate(state, grid_inputs, key=grid_key)
                if is_writer:
                    grid = _sample_grid(experiment, grid_inputs, samples, heldout)
                    sampling.save_png(grid, os.path.join(workdir, SAMPLES_DIR, f'{step:07d}.png'))
                    writer.image(step, 'samples', grid)
            if config.eval_every and (step % config.eval_every == 0 or is_last) and is_writer:
                _check_and_average(pending, checkpointer, last_good)
                # Process 0 alone evaluates a host copy: the state itself spans every process's devices.
                local = state if jax.process_count() == 1 else jax.device_get(state)
                result = evaluate.evaluate_state(local, config, experiment.game, num_samples=config.eval_num_samples)
                writer.write(step, evaluate.scalar_metrics(result))
            if step % config.checkpoint_every == 0 or is_last or stopping:
                _check_and_average(pending, checkpointer, last_good)
                if last_saved != step:
                    _save(checkpointer, state, iterator.get_state(), last_good)
                last_good = last_saved = step
            if stopping:
                checkpointer.wait()
                _say(is_writer, f'stopped by {stop.describe()} at step {step} of {config.num_steps}; saved '
                                f'{checkpointer.path(step)}; run the same command again to resume')
                break
    finally:
        progress.close()
        writer.close()
    return state


def _save(checkpointer: Checkpointer, state: GANState, data_state: dict, last_good: int | None) -> None:
    try:
        checkpointer.save(state, data_state)
    except NonFiniteStateError as error:
        raise NonFiniteLossError(f'{error}; training stopped; {_last_good(checkpointer, last_good)}') from None


def _last_good(checkpointer: Checkpointer, last_good: int | None) -> str:
    return (f'the last good checkpoint is step {last_good} at {checkpointer.path(last_good)}'
            if last_good is not None else 'no checkpoint was saved before it')


def _check_and_average(pending: list[tuple[int, dict]], checkpointer: Checkpointer,
                       last_good: int | None) -> dict[str, float]:
    """Raises NonFiniteLossError at the first step with a NaN/Inf metric; else returns the means."""
    if not pending:
        return {}
    values = jax.device_get([m for _, m in pending])
    for (step, _), metrics in zip(pending, values):
        bad = sorted(name for name, value in metrics.items() if not math.isfinite(float(value)))
        if bad:
            raise NonFiniteLossError(f'non-finite {", ".join(bad)} at step {step}; training stopped; '
                                     f'{_last_good(checkpointer, last_good)}')
    return {name: float(np.mean([m[name] for m in values])) for name in values[-1]}


def _preview_examples(experiment: Experiment) -> Batch | None:
    """The first examples of the game's preview split, when its grids show examples (translations)."""
    game, config = experiment.game, experiment.config
    if game.preview_split is None:
        return None
    num = game.preview_size(config.grid_size)
    count = experiment.spec.examples_in(game.preview_split)
    if count < num:
        raise ValueError(f'sample grids of {num} examples need a {game.preview_split!r} split of at least that '
                         f'many; {config.dataset} has {count}')
    iterator = data.make_iterator(config.dataset, split=game.preview_split, global_batch_size=num, seed=0,
                                  shuffle=False, num_epochs=1, image_size=config.image_size, data_dir=config.data_dir,
                                  process_index=0, process_count=1)
    return next(iterator)


def _grid_inputs(experiment: Experiment, heldout: Batch | None):
    game, config = experiment.game, experiment.config
    return game.preview_inputs(sample_key(config), game.preview_size(config.grid_size), heldout)


def _sample_grid(experiment: Experiment, inputs, samples: np.ndarray, heldout: Batch | None) -> np.ndarray:
    """The uint8 HWC image of a sample grid: the game's preview, or a scatter of 2-D points."""
    if experiment.spec.kind == 'points':
        return sampling.points_image(samples)
    images, columns = experiment.game.preview_grid(inputs, samples, heldout)
    return sampling.image_grid(sampling.to_uint8(np.asarray(images)), columns or None)


@functools.cache
def _malloc_trim():
    """glibc's malloc_trim, or None (another libc or platform)."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


def _release_free_heap() -> None:
    """Returns freed heap memory to the OS. XLA, tensorstore and orbax allocate and free large
    buffers from ~90 threads, spread over glibc's per-thread arenas, which keep what is freed:
    without this a long run's resident memory creeps up by 4-8 MiB per 1000 steps (measured on
    the digits DCGAN) though the memory in use stays flat. About 10 ms per call."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _say(is_writer: bool, message: str) -> None:
    if is_writer:
        print(message, file=sys.stderr, flush=True)

