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
from gans.engine import sharding
from gans.engine.checkpoint import Checkpointer, CheckpointMismatchError
from gans.engine.preemption import StopSignal
from gans.engine.state import GANState
from gans.games.base import Batch
from gans.engine.experiment import Experiment, build_experiment, sample_key, train_key
from gans.engine.writers import METRICS_FILENAME, MetricWriter, ProgressBar, drop_metrics_after

SAMPLES_DIR = 'samples'


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or Inf; the message names the step and the last good checkpoint."""


def make_data_iterator(config: ml_collections.ConfigDict):
    return data.make_iterator(
        config.dataset, split='train', global_batch_size=config.batch_size * config.optim.d_steps,
        seed=config.seed, image_size=config.image_size, data_dir=config.data_dir)


def train(config: ml_collections.ConfigDict, workdir: str) -> GANState:
    """Trains `config` for `config.num_steps` steps in `workdir`, resuming if it holds a checkpoint.

    Returns the final state, or the state at which SIGTERM/SIGINT stopped the run (saved).
    """
    config_lib.validate(config)
    is_writer = jax.process_index() == 0
    os.makedirs(os.path.join(workdir, SAMPLES_DIR), exist_ok=True)
    mesh = sharding.make_mesh(config.num_devices)
    experiment = build_experiment(config, data.config_spec(config), mesh)
    iterator = make_data_iterator(config)
    checkpointer = Checkpointer(workdir)
    try:
        state = _resume_or_start(config, workdir, experiment, iterator, checkpointer, is_writer)
        with StopSignal() as stop:
            return _run(config, workdir, experiment, state, iterator, checkpointer, stop, is_writer)
    finally:
        checkpointer.wait()
        checkpointer.close()


def _resume_or_start(config, workdir, experiment, iterator, checkpointer, is_writer) -> GANState:
    for line in checkpointer.set_aside_incomplete():
        _say(is_writer, line)
    step = checkpointer.latest_step()
    if step is None:
        if is_writer:
            config_lib.save_config(config, workdir)
            drop_metrics_after(workdir, 0)  # from a run that died before its first checkpoint
        return experiment.state
    try:
        state, data_state = checkpointer.restore(experiment.state, step)
    except CheckpointMismatchError as error:
        changed = _config_changes(workdir, config)
        if changed:
            raise CheckpointMismatchError(f'{error}. This config differs from {workdir}/config.json in: '
                                          f'{changed}') from error
        raise
    iterator.set_state(data_state)
    if is_writer:
        dropped = drop_metrics_after(workdir, step)
        _say(True, f'resumed from step {step} ({checkpointer.path(step)})' +
             (f'; moved {dropped} metric lines logged after it to {METRICS_FILENAME}.dropped' if dropped else ''))
    return state


def _run(config, workdir, experiment, state, iterator, checkpointer, stop, is_writer) -> GANState:
    mesh = experiment.mesh
    writer = MetricWriter(workdir, enabled=is_writer)
    start = int(jax.device_get(state.step))
    progress = ProgressBar(config.num_steps, start, enabled=is_writer)
    key = sharding.replicate(train_key(config), mesh)
    # Replicated like the state, so that every process generates the grid with the same program.
    heldout = _preview_examples(experiment)
    grid_inputs = sharding.replicate(_grid_inputs(experiment, heldout), mesh)
    grid_key = sharding.replicate(jax.random.fold_in(sample_key(config), 1), mesh)
    log_every = config.log_every
    pending: list[tuple[int, dict]] = []
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
            if step % config.sample_every == 0 or is_last:
                _check_and_average(pending, checkpointer, last_good)
                samples = sampling.generate(state, grid_inputs, key=grid_key)
                if is_writer:
                    _write_sample_grid(experiment, grid_inputs, samples, heldout,
                                       os.path.join(workdir, SAMPLES_DIR, f'{step:07d}.png'))
            if config.eval_every and (step % config.eval_every == 0 or is_last) and is_writer:
                _check_and_average(pending, checkpointer, last_good)
                # Process 0 alone evaluates a host copy: the state itself spans every process's devices.
                local = state if jax.process_count() == 1 else jax.device_get(state)
                result = evaluate.evaluate_state(local, config, experiment.game, num_samples=config.eval_num_samples)
                writer.write(step, evaluate.scalar_metrics(result))
            if step % config.checkpoint_every == 0 or is_last or stopping:
                _check_and_average(pending, checkpointer, last_good)
                if last_saved != step:
                    checkpointer.save(state, iterator.get_state())
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


def _check_and_average(pending: list[tuple[int, dict]], checkpointer: Checkpointer,
                       last_good: int | None) -> dict[str, float]:
    """Raises NonFiniteLossError at the first step with a NaN/Inf metric; else returns the means."""
    if not pending:
        return {}
    values = jax.device_get([m for _, m in pending])
    for (step, _), metrics in zip(pending, values):
        bad = sorted(name for name, value in metrics.items() if not math.isfinite(float(value)))
        if bad:
            where = (f'the last good checkpoint is step {last_good} at {checkpointer.path(last_good)}'
                     if last_good is not None else 'no checkpoint was saved before it')
            raise NonFiniteLossError(f'non-finite {", ".join(bad)} at step {step}; training stopped; {where}')
    return {name: float(np.mean([m[name] for m in values])) for name in values[-1]}


def _preview_examples(experiment: Experiment) -> Batch | None:
    """The first examples of the game's preview split, when its grids show examples (translations)."""
    game, config = experiment.game, experiment.config
    if game.preview_split is None:
        return None
    num = game.preview_size(config.grid_size)
    count = experiment.spec.num_examples.get(game.preview_split, 0)
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


def _write_sample_grid(experiment: Experiment, inputs, samples: np.ndarray, heldout: Batch | None, path: str) -> None:
    if experiment.spec.kind == 'points':
        sampling.save_png(sampling.points_image(samples), path)
        return
    images, columns = experiment.game.preview_grid(inputs, samples, heldout)
    sampling.save_png(sampling.image_grid(sampling.to_uint8(np.asarray(images)), columns or None), path)


def _say(is_writer: bool, message: str) -> None:
    if is_writer:
        print(message, file=sys.stderr, flush=True)


def _config_changes(workdir: str, config: ml_collections.ConfigDict) -> str:
    try:
        saved = config_lib.load_workdir_config(workdir)
    except (FileNotFoundError, ValueError):
        return ''
    return config_lib.describe_changes(saved, config)
