"""Times each shipped config's train step with both XLA:CPU convolution libraries, side by side.

    python experiments/bench/cpu_convolutions.py [dcgan_digits began_digits ...]

For every config (default: the image configs in experiments/configs), builds the experiment
twice, with `cpu_convolutions=eigen` (the library's default) and `=xla_default` (YNNPACK in jax
0.10), on one device, feeds both the same random batch, and times them in interleaved blocks.
Prints one JSON object: per config, the median ms/step of each and the speedup of Eigen.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import time

import jax
import numpy as np

from gans import config as config_lib
from gans import data
from gans.engine import sharding
from gans.engine.experiment import build_experiment, train_key

CONFIG_DIR = pathlib.Path(__file__).resolve().parents[1] / 'configs'
LIBRARIES = ('eigen', 'xla_default')
DEFAULT_CONFIGS = ('dcgan_digits', 'cgan_digits', 'acgan_digits', 'infogan_digits', 'wgan_gp_digits',
                   'began_digits', 'vae_digits', 'vaegan_digits')


def _prepared_step(name: str, library: str):
    config = config_lib.load_config(str(CONFIG_DIR / f'{name}.py'), [f'cpu_convolutions={library}'])
    spec = data.config_spec(config)
    mesh = sharding.make_mesh(1)
    experiment = build_experiment(config, spec, mesh)
    rng = np.random.default_rng(0)
    examples = experiment.examples_per_step
    batch = {'x': rng.uniform(-1, 1, (examples, *spec.shape)).astype(np.float32)}
    if spec.num_classes:
        batch['label'] = rng.integers(0, spec.num_classes, examples).astype(np.int32)
    return experiment, sharding.global_batch(batch, mesh), sharding.replicate(train_key(config), mesh)


def time_config(name: str, repeats: int, steps: int) -> dict[str, float]:
    runs = {}
    for library in LIBRARIES:
        experiment, batch, key = _prepared_step(name, library)
        state = experiment.state
        for _ in range(3):  # compile and warm up
            state, _ = experiment.train_step(state, batch, key)
        jax.block_until_ready(state)
        runs[library] = {'step': experiment.train_step, 'state': state, 'batch': batch, 'key': key, 'times': []}
    for _ in range(repeats):  # interleaved, so background load hits both
        for run in runs.values():
            start = time.perf_counter()
            state = run['state']
            for _ in range(steps):
                state, _ = run['step'](state, run['batch'], run['key'])
            jax.block_until_ready(state)
            run['state'] = state
            run['times'].append((time.perf_counter() - start) / steps)
    result = {f'{library}_ms': round(1e3 * statistics.median(run['times']), 2) for library, run in runs.items()}
    result['eigen_speedup'] = round(result['xla_default_ms'] / result['eigen_ms'], 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('configs', nargs='*', default=DEFAULT_CONFIGS)
    parser.add_argument('--repeats', type=int, default=7, help='timed blocks per library (median is reported)')
    parser.add_argument('--steps-per-repeat', type=int, default=5)
    args = parser.parse_args()
    report = {'host': {'jax': jax.__version__, 'backend': jax.default_backend()}}
    for name in args.configs:
        report[name] = time_config(name, args.repeats, args.steps_per_repeat)
        print(name, report[name], flush=True)
    print(json.dumps(report, indent=2))


if __name__ == '__main__':
    main()
