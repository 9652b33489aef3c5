"""The default DCGAN train step on 1, 2, 4 and 8 simulated CPU devices: images/s and memory.

    python experiments/bench/devices.py              # about 3-5 minutes on 2 cores
    python experiments/bench/devices.py --help

The step is the library's (`gans.engine.experiment.build_experiment` from
experiments/configs/dcgan_digits.py, 32x32x1 digits-shaped random images, batch 64), jitted over a
mesh of the first n of 8 simulated devices. At one device count (`--variant-devices`, default 1) it also runs micro_batches 4 and
compute_dtype bfloat16. Simulated CPU devices share the same cores, so the numbers say what
sharding and accumulation cost in overhead and memory, not what real devices would gain.

Memory comes from the compiled step's `memory_analysis()` (XLA's buffer assignment for the
per-device program; CPU devices have no `memory_stats()`): arguments, outputs, temporaries,
generated code, and the bytes of outputs that alias donated arguments. Prints one JSON object.
"""
from __future__ import annotations

import os

# Before jax is imported: XLA reads the simulated device count once.
_DEVICE_FLAG = '--xla_force_host_platform_device_count=8'
if 'xla_force_host_platform_device_count' not in os.environ.get('XLA_FLAGS', ''):
    os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') + ' ' + _DEVICE_FLAG).strip()
os.environ.setdefault('JAX_PLATFORMS', 'cpu')

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402

from gans import config as config_lib  # noqa: E402
from gans import data  # noqa: E402
from gans.engine import sharding  # noqa: E402
from gans.engine.experiment import build_experiment, train_key  # noqa: E402

CONFIG = 'experiments/configs/dcgan_digits.py'
MEMORY_FIELDS = ('argument', 'output', 'temp', 'generated_code', 'alias')


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--devices', type=int, nargs='+', default=[1, 2, 4, 8])
    parser.add_argument('--variant-devices', type=int, default=1,
                        help='device count of the micro_batches / compute_dtype variants')
    parser.add_argument('--repeats', type=int, default=3, help='timed blocks per setting (median is reported)')
    parser.add_argument('--steps-per-repeat', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2, help='untimed steps after compilation')
    parser.add_argument('--override', action='append', default=[], help='extra key=value config overrides')
    return parser.parse_args()


def _memory(compiled) -> dict[str, int]:
    stats = compiled.memory_analysis()
    memory = {f'{name}_bytes': int(getattr(stats, f'{name}_size_in_bytes')) for name in MEMORY_FIELDS}
    # Live at once at most: inputs, outputs not written over donated inputs, temporaries, code.
    memory['total_bytes'] = (memory['argument_bytes'] + memory['output_bytes'] - memory['alias_bytes']
                             + memory['temp_bytes'] + memory['generated_code_bytes'])
    return memory


def measure(num_devices: int, overrides: list[str], args: argparse.Namespace) -> dict:
    config = config_lib.load_config(CONFIG, [f'num_devices={num_devices}', *args.override, *overrides])
    mesh = sharding.make_mesh(num_devices)
    spec = data.dataset_spec(config.dataset, image_size=config.image_size, data_dir=config.data_dir)
    experiment = build_experiment(config, spec, mesh)
    images = np.random.default_rng(0).uniform(-1, 1, (experiment.examples_per_step, *spec.shape))
    batch = sharding.global_batch({'x': images.astype(np.float32)}, mesh)
    key = sharding.replicate(train_key(config), mesh)
    state = experiment.state
    start = time.perf_counter()
    compiled = experiment.train_step.lower(state, batch, key).compile()
    compile_s = time.perf_counter() - start

    def run(steps: int, state):
        start = time.perf_counter()
        for _ in range(steps):
            state, metrics = compiled(state, batch, key)
        jax.block_until_ready((state, metrics))
        return state, (time.perf_counter() - start) / max(steps, 1)

    state, _ = run(args.warmup, state)
    times = []
    for _ in range(args.repeats):
        state, seconds = run(args.steps_per_repeat, state)
        times.append(seconds)
    median = statistics.median(times)
    return {'num_devices': num_devices, 'micro_batches': config.optim.micro_batches,
            'compute_dtype': config.compute_dtype,
            'img_per_s': round(config.batch_size / median, 1), 'step_ms': round(1e3 * median, 1),
            'step_ms_min': round(1e3 * min(times), 1), 'step_ms_max': round(1e3 * max(times), 1),
            'compile_s': round(compile_s, 1), 'memory_per_device': _memory(compiled)}


def main() -> None:
    args = _parse_args()
    start = time.perf_counter()
    config = config_lib.load_config(CONFIG, args.override)
    report = {
        'config': {'file': CONFIG, 'overrides': args.override, 'image_size': config.image_size,
                   'batch_size': config.batch_size, 'g_width': config.generator.width,
                   'd_width': config.discriminator.width, 'latent_dim': config[config.game].latent_dim, 'repeats': args.repeats,
                   'steps_per_repeat': args.steps_per_repeat},
        'host': {'cpu_cores': len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count(),
                 'machine': platform.machine(), 'jax': jax.__version__, 'devices_visible': jax.device_count(),
                 'xla_flags': os.environ.get('XLA_FLAGS', '')},
        'memory_source': 'compiled.memory_analysis() of the per-device program (CPU devices have no memory_stats)',
    }
    report['by_devices'] = [measure(n, [], args) for n in args.devices]
    report['variants'] = [measure(args.variant_devices, overrides, args) for overrides in (
        ['optim.micro_batches=4'], ['compute_dtype=bfloat16'],
        ['compute_dtype=bfloat16', 'optim.micro_batches=4'])]
    report['total_s'] = round(time.perf_counter() - start, 1)
    print(json.dumps(report, indent=2))


if __name__ == '__main__':
    main()
