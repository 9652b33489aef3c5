"""Using a finished run: rebuild its state from the workdir and write samples in the shared format.

The `gans sample` file is an .npz with `images` (uint8 NHWC) for image datasets or `points`
(float32 [N, 2]) for the 2-D mixtures. Same checkpoint and seed give the same file.
"""
from __future__ import annotations

import os

import jax
import ml_collections
import numpy as np

from gans import config as config_lib
from gans import data, sampling, sharding
from gans.checkpoint import Checkpointer
from gans.games import Game
from gans.state import GANState
from gans.train import build_experiment


def load_trained_state(workdir: str, step: int | None = None) -> tuple[GANState, ml_collections.ConfigDict]:
    """The state of `workdir`'s latest (or given) checkpoint, with the run's config."""
    state, config, _ = load_trained_run(workdir, step)
    return state, config


def load_trained_run(workdir: str, step: int | None = None) -> tuple[GANState, ml_collections.ConfigDict, Game]:
    """`load_trained_state` plus the run's game, whose `sample_latents` draws the generator's inputs."""
    config = config_lib.load_workdir_config(workdir)
    experiment = build_experiment(config, data.config_spec(config), sharding.make_mesh(1))
    checkpointer = Checkpointer(workdir)
    try:
        if checkpointer.latest_step() is None:
            raise FileNotFoundError(f'{workdir!r} has no checkpoint yet')
        state, _ = checkpointer.restore(experiment.state, step)
    finally:
        checkpointer.close()
    return state, config, experiment.game


def write_samples(state: GANState, sample_latents: sampling.LatentSampler, *, num: int, seed: int, out: str) -> str:
    """Writes `num` samples of `state` to `out` (.npz): `images` or `points`, plus the generator's
    other inputs where it has them (`labels` of a class-conditional model, InfoGAN's `codes`).
    `sample_latents` is the run's `game.sample_latents` (`load_trained_run`)."""
    key = jax.random.key(seed)
    chunks = list(sampling.sample_batches_with_inputs(state, sample_latents, key, num))
    generated = np.concatenate([out for out, _ in chunks])
    inputs = {name: np.concatenate([c[1][name] for c in chunks]) for name in chunks[0][1]}
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    np.savez(out, **{'images' if generated.dtype == np.uint8 else 'points': generated}, **inputs)
    return out
