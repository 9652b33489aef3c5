"""The training loop: data in, train steps, and the run's outputs (logs, sample grids, checkpoints).

Only process 0 writes logs and images; every process takes part in checkpointing, as orbax
requires. Re-running with the same workdir resumes from its latest checkpoint.
"""
from __future__ import annotations

import math
import os
import sys
import time

import jax
import ml_collections
import numpy as np

from gans import config as config_lib
from gans import data, evaluate, sampling, sharding
from gans.checkpoint import Checkpointer
from gans.state import GANState
from gans.train import Experiment, build_experiment, sample_key, train_key
from gans.writers import MetricWriter, ProgressBar

SAMPLES_DIR = 'samples'


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or Inf; the message names the step and the last good checkpoint."""


def make_data_iterator(config: ml_collections.ConfigDict):
    return data.make_iterator(
        config.dataset, split='train', global_batch_size=config.batch_size * config.optim.d_steps,
        seed=config.seed, image_size=config.image_size, data_dir=config.data_dir)


def dataset_spec(config: ml_collections.ConfigDict) -> data.DatasetSpec:
    return data.dataset_spec(config.dataset, image_size=config.image_size, data_dir=config.data_dir)


def train(config: ml_collections.ConfigDict, workdir: str) -> GANState:
    """Trains `config` for `config.num_steps` steps in `workdir`, resuming if it holds a checkpoint."""
    config_lib.validate(config)
    is_writer = jax.process_index() == 0
    os.makedirs(os.path.join(workdir, SAMPLES_DIR), exist_ok=True)
    mesh = sharding.make_mesh(config.num_devices)
    experiment = build_experiment(config, dataset_spec(config), mesh)
    iterator = make_data_iterator(config)
    checkpointer = Checkpointer(workdir)
    state = experiment.state
    if checkpointer.latest_step() is not None:
        state, data_state = checkpointer.restore(state)
        iterator.set_state(data_state)
        if is_writer:
            print(f'resumed from {checkpointer.path(checkpointer.latest_step())}', file=sys.stderr)
    elif is_writer:
        config_lib.save_config(config, workdir)

    writer = MetricWriter(workdir, enabled=is_writer)
    start = int(jax.device_get(state.step))
    progress = ProgressBar(config.num_steps, start, enabled=is_writer)
    key = sharding.replicate(train_key(config), mesh)
    grid_z = _grid_latents(experiment)
    log_every = config.log_every
    pending: list[tuple[int, dict]] = []
    last_good = checkpointer.latest_step()
    started = time.perf_counter()
    try:
        for step in range(start + 1, config.num_steps + 1):
            batch = sharding.global_batch(next(iterator), mesh)
            state, metrics = experiment.train_step(state, batch, key)
            pending.append((step, metrics))
            is_last = step == config.num_steps
            if step % log_every == 0 or is_last:
                summary = _check_and_average(pending, checkpointer, last_good)
                summary['steps_per_s'] = (step - start) / (time.perf_counter() - started)
                writer.write(step, summary)
                progress.update(step, summary)
                pending = []
            if (step % config.sample_every == 0 or is_last) and is_writer:
                _check_and_average(pending, checkpointer, last_good)
                _write_sample_grid(experiment, state, grid_z, os.path.join(workdir, SAMPLES_DIR, f'{step:07d}.png'))
            if config.eval_every and (step % config.eval_every == 0 or is_last) and is_writer:
                _check_and_average(pending, checkpointer, last_good)
                result = evaluate.evaluate_state(state, config, num_samples=config.eval_num_samples)
                writer.write(step, evaluate.scalar_metrics(result))
            if step % config.checkpoint_every == 0 or is_last:
                _check_and_average(pending, checkpointer, last_good)
                checkpointer.save(state, iterator.get_state())
                last_good = step
    finally:
        checkpointer.wait()
        checkpointer.close()
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


def _grid_latents(experiment: Experiment) -> jax.Array:
    num = experiment.config.grid_size ** 2
    return jax.random.normal(sample_key(experiment.config), (num, experiment.game.latent_dim))


def _write_sample_grid(experiment: Experiment, state: GANState, z: jax.Array, path: str) -> None:
    samples = sampling.generate(state, z)
    if experiment.spec.kind == 'points':
        sampling.save_png(sampling.points_image(samples), path)
    else:
        sampling.save_png(sampling.image_grid(sampling.to_uint8(samples)), path)
