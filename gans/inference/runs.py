"""Using a finished run: rebuild its state from the workdir and write samples in the shared format.

The `gans sample` file is an .npz with `images` (uint8 NHWC) for image datasets or `points`
(float32 [N, 2]) for the 2-D mixtures, plus the generator's other inputs (labels, codes). Same
checkpoint and seed give the same file. Runs of games whose generator translates examples
(`game.input_source == 'data'`) are used through `gans.inference.translation` instead.
"""
from __future__ import annotations

import os

import jax
import ml_collections
import numpy as np

from gans import config as config_lib
from gans import data
from gans.engine import sharding
from gans.engine.checkpoint import Checkpointer, CheckpointIntegrityError
from gans.engine.experiment import build_experiment
from gans.engine.state import GANState
from gans.games.base import Game
from gans.inference import sampling

SPLIT_BATCH = 500


def load_trained_state(workdir: str, step: int | None = None) -> tuple[GANState, ml_collections.ConfigDict]:
    """The state of `workdir`'s latest (or given) checkpoint, with the run's config."""
    state, config, _ = load_trained_run(workdir, step)
    return state, config


def load_trained_run(workdir: str, step: int | None = None) -> tuple[GANState, ml_collections.ConfigDict, Game]:
    """`load_trained_state` plus the run's game (its generator inputs, previews and evaluation).

    The checkpoint is verified against its digest record (CheckpointIntegrityError if damaged)."""
    config = config_lib.load_workdir_config(workdir)
    experiment = build_experiment(config, data.config_spec(config), sharding.make_mesh(1))
    checkpointer = Checkpointer(workdir)
    try:
        if checkpointer.latest_step() is None:
            raise FileNotFoundError(f'{workdir!r} has no checkpoint yet')
        try:
            state, _ = checkpointer.restore(experiment.state, step)
        except CheckpointIntegrityError as error:
            others = [s for s in checkpointer.all_steps() if s != (step or checkpointer.latest_step())]
            raise CheckpointIntegrityError(
                f'{error}. Nothing was changed (this command only reads): `gans train` on {workdir} sets a '
                f'damaged checkpoint aside and resumes from the newest one that verifies'
                f'{f"; the other complete checkpoints are steps {others}" if others else ""}') from error
    finally:
        checkpointer.close()
    return state, config, experiment.game


def split_batches(config: ml_collections.ConfigDict, split: str, *, batch_size: int | None = None) -> Iterator[dict]:
    """The split in order, one pass. A split of up to 4 x 500 examples comes as one batch (none
    dropped); larger ones in batches of 500, dropping fewer than 500 at the end."""
    spec = data.config_spec(config)
    count = spec.examples_in(split)  # an unpaired set's 'test': testA and testB, zipped
    if not count:
        valid = sorted(spec.num_examples) + (['test', 'train'] if spec.kind == 'unpaired' else [])
        raise ValueError(f'unknown split {split!r} of {config.dataset}; valid: {valid}')
    batch_size = batch_size or (count if count <= 4 * SPLIT_BATCH else SPLIT_BATCH)
    return data.make_iterator(config.dataset, split=split, global_batch_size=min(batch_size, count), seed=0,
                              shuffle=False, num_epochs=1, image_size=config.image_size, data_dir=config.data_dir,
                              process_index=0, process_count=1)


def read_npz(path: str, what: str = 'an .npz of arrays') -> dict[str, np.ndarray]:
    """Every array of the .npz at `path`, with errors that say what is wrong with the file: missing,
    not an .npz, or holding Python objects (which are never unpickled)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path} does not exist (expected {what})')
    with open(path, 'rb') as f:
        start = f.read(4)
    if start != b'PK\x03\x04':  # every .npz is a zip archive
        raise ValueError(f'{path} is not a readable .npz file (it is not a zip archive: it starts with {start!r}; '
                         f'expected {what})')
    try:
        with np.load(path, allow_pickle=False) as f:
            return {name: f[name] for name in f.files}
    except ValueError as error:
        if 'allow_pickle' in str(error) or 'pickled' in str(error):
            raise ValueError(f'{path} holds Python objects, not arrays of numbers (expected {what})') from None
        raise ValueError(f'{path} is not a readable .npz file ({error}; expected {what})') from None
    except (OSError, EOFError) as error:
        raise ValueError(f'{path} is not a readable .npz file ({error}; expected {what})') from None


def prior_sampler(game: Game) -> sampling.LatentSampler:
    """(key, num) -> `num` generator inputs drawn from the game's prior; a ValueError for a game
    whose generator translates examples, which has no prior to sample."""
    if game.input_source != 'prior':
        raise ValueError(f'{type(game).__name__} translates examples rather than sampling a prior: use '
                         f'`gans translate` for its outputs and `gans evaluate --workdir` for its metrics')
    return lambda key, num: game.preview_inputs(key, num, None)


def write_samples(state: GANState, game: Game, *, num: int, seed: int, out: str) -> str:
    """Writes `num` samples of `state` to `out` (.npz): `images` or `points`, plus the generator's
    other inputs where it has them (`labels` of a class-conditional model, InfoGAN's `codes`)."""
    key = jax.random.key(seed)
    chunks = list(sampling.sample_batches_with_inputs(state, prior_sampler(game), key, num))
    generated = np.concatenate([out for out, _ in chunks])
    inputs = {name: np.concatenate([c[1][name] for c in chunks]) for name in chunks[0][1]}
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    np.savez(out, **{'images' if generated.dtype == np.uint8 else 'points': generated}, **inputs)
    return out
