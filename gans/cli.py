"""`gans <command> [flags]`: thin wrappers that parse flags and call library functions.

  gans train  --config experiments/configs/dcgan_digits.py[:tiny] --workdir runs/dcgan [--config.loss=hinge ...]
  gans sample --workdir runs/dcgan --num 1000 --seed 0 --out samples.npz
"""
from __future__ import annotations

import functools
import sys

from absl import app, flags
from ml_collections import config_flags

COMMANDS = ('train', 'sample')

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Config file, optionally `path:variant`.',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Directory of the run: checkpoints, logs, samples.')
_NUM = flags.DEFINE_integer('num', 1000, 'sample: number of images to generate.')
_SEED = flags.DEFINE_integer('seed', 0, 'sample: seed of the latents.')
_OUT = flags.DEFINE_string('out', 'samples.npz', 'sample: output .npz file.')


def _train() -> None:
    from gans import config as config_lib
    from gans.loop import train
    if _CONFIG.value is None:
        raise app.UsageError('train needs --config (e.g. experiments/configs/dcgan_digits.py)')
    train(config_lib.validate(_CONFIG.value), _WORKDIR.value)


def _sample() -> None:
    from gans.inference import load_trained_state, write_samples
    state, config = load_trained_state(_WORKDIR.value)
    path = write_samples(state, config, num=_NUM.value, seed=_SEED.value, out=_OUT.value)
    print(f'wrote {_NUM.value} samples to {path}')


def _run(command: str, argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f'unexpected arguments {argv[1:]}')
    if _WORKDIR.value is None:
        raise app.UsageError('--workdir is required')
    {'train': _train, 'sample': _sample}[command]()


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] not in COMMANDS:
        print(f'usage: gans {{{",".join(COMMANDS)}}} [flags]   (gans <command> --helpfull for all flags)',
              file=sys.stderr)
        sys.exit(2)
    command = argv.pop(1)
    app.run(functools.partial(_run, command), argv=argv)
