"""What checkpoint integrity costs: save and restore with the digests beside plain orbax.

    python experiments/bench/checkpoint_digest.py [--configs dcgan_digits pix2pix_fashion_edges] [--repeats 5]

For each config's full train state (both players' parameters, optimizer states and model
collections), times in interleaved rounds (gans/../timing.py):

  save          `Checkpointer.save` + `wait`: the digest record (a host copy and SHA-256 of every
                array), orbax's save, then the SHA-256 of every committed file;
  save_plain    the same composite through `ocp.CheckpointManager` without the record or the files;
  restore       `Checkpointer.restore`: file digests, orbax's restore, array digests;
  restore_plain orbax's restore alone.

Prints one JSON line per config with the median seconds of each and the ratios
save / save_plain and restore / restore_plain.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp
from flax import serialization

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import num_cores  # noqa: E402

from gans import config as config_lib  # noqa: E402
from gans import data  # noqa: E402
from gans.engine import sharding  # noqa: E402
from gans.engine.checkpoint import Checkpointer  # noqa: E402
from gans.engine.experiment import build_experiment  # noqa: E402

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'configs')
DATA_STATE = {'next_index': 12345}


def state_of(name: str):
    config = config_lib.load_config(os.path.join(CONFIGS, f'{name}.py'))
    return build_experiment(config, data.config_spec(config), sharding.make_mesh(1)).state


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def bench(name: str, repeats: int, root: str) -> dict:
    state = state_of(name)
    state_dict = serialization.to_state_dict(state)
    nbytes = sum(x.nbytes for x in jax.tree.leaves(state_dict))
    ours = Checkpointer(os.path.join(root, name, 'ours'), max_to_keep=2)
    plain = ocp.CheckpointManager(
        os.path.join(root, name, 'plain', 'checkpoints'),
        options=ocp.CheckpointManagerOptions(max_to_keep=2, create=True),
        item_handlers={'state': ocp.StandardCheckpointHandler(), 'data': ocp.JsonCheckpointHandler()})
    target = jax.tree.map(ocp.utils.to_shape_dtype_struct, state_dict)
    times = {'save': [], 'save_plain': [], 'restore': [], 'restore_plain': []}

    def save_ours(step):
        ours.save(state.replace(step=jnp.asarray(step, state.step.dtype)), DATA_STATE)
        ours.wait()

    def save_plain(step):
        plain.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave({**state_dict, 'step': jnp.asarray(step, state.step.dtype)}),
                                                 data=ocp.args.JsonSave(DATA_STATE)))
        plain.wait_until_finished()

    def restore_plain(step):
        plain.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target),
                                                    data=ocp.args.JsonRestore()))

    save_ours(1), save_plain(1), ours.restore(state, 1), restore_plain(1)  # warm-up: compile, caches
    for round_ in range(repeats):
        step = round_ + 2
        times['save'].append(timed(lambda: save_ours(step)))
        times['save_plain'].append(timed(lambda: save_plain(step)))
        times['restore'].append(timed(lambda: ours.restore(state, step)))
        times['restore_plain'].append(timed(lambda: restore_plain(step)))
    ours.close()
    plain.close()
    median = {k: statistics.median(v) for k, v in times.items()}
    return {'config': name, 'state_mb': round(nbytes / 2**20, 1), 'repeats': repeats,
            **{f'{k}_s': round(v, 4) for k, v in median.items()},
            'save_ratio': round(median['save'] / median['save_plain'], 3),
            'restore_ratio': round(median['restore'] / median['restore_plain'], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--configs', nargs='+', default=['dcgan_digits', 'pix2pix_fashion_edges'])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--dir', default=None, help='where to write the checkpoints (default: a temporary folder)')
    args = parser.parse_args()
    root = args.dir or tempfile.mkdtemp(prefix='gans-digest-bench-')
    host = {'cores': num_cores(), 'machine': platform.machine(), 'jax': jax.__version__,
            'orbax': getattr(ocp, '__version__', '?'), 'dir': root}
    print(json.dumps({'host': host}), flush=True)
    try:
        for name in args.configs:
            print(json.dumps(bench(name, args.repeats, root)), flush=True)
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == '__main__':
    main()
