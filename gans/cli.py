"""`gans <command> [flags]`: thin wrappers that parse flags and call library functions.

  gans train  --config experiments/configs/dcgan_digits.py[:tiny] --workdir runs/dcgan [--config.loss=hinge ...]
  gans sample --workdir runs/dcgan --num 1000 --seed 0 --out samples.npz
  gans evaluate --workdir runs/dcgan [--num 10000 --seed 0]
  gans evaluate --samples samples.npz --dataset digits
"""
from __future__ import annotations

import sys

from absl import app, flags

COMMANDS = ('train', 'sample', 'evaluate')

_CONFIG = flags.DEFINE_string('config', None, 'Config file, optionally `path:variant`; override any field '
                              'with --config.<field>=<value>.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Directory of the run: checkpoints, logs, samples.')
_NUM = flags.DEFINE_integer('num', None, 'sample/evaluate: number of samples (default 1000 / 10000).')
_SEED = flags.DEFINE_integer('seed', 0, 'sample/evaluate: seed of the latents (and of KID subsets).')
_OUT = flags.DEFINE_string('out', 'samples.npz', 'sample: output .npz file.')
_SAMPLES = flags.DEFINE_string('samples', None, 'evaluate: a `gans sample` .npz instead of a workdir.')
_DATASET = flags.DEFINE_string('dataset', None, 'evaluate --samples: the dataset to compare with.')
_SPLIT = flags.DEFINE_string('split', 'train', 'evaluate: reference split.')
_FEATURES = flags.DEFINE_string('feature_network', None, 'evaluate: digits or inception (default: by dataset).')


def _train(overrides: list[str]) -> None:
    from gans import config as config_lib
    from gans.loop import train
    if _CONFIG.value is None:
        raise app.UsageError('train needs --config (e.g. experiments/configs/dcgan_digits.py)')
    from gans import distributed
    distributed.initialize_from_env()  # multi-process runs join here, before jax computes anything
    train(config_lib.load_config(_CONFIG.value, overrides), _WORKDIR.value)


def _sample(overrides: list[str]) -> None:
    if overrides:
        raise app.UsageError('sample takes no --config overrides: it uses the config saved in the workdir')
    from gans.inference import load_trained_state, write_samples
    num = _NUM.value or 1000
    state, config = load_trained_state(_WORKDIR.value)
    path = write_samples(state, config, num=num, seed=_SEED.value, out=_OUT.value)
    print(f'wrote {num} samples to {path}')


def _evaluate(overrides: list[str]) -> None:
    import json
    from gans import evaluate
    if overrides:
        raise app.UsageError('evaluate takes no --config overrides')
    if _SAMPLES.value:
        if not _DATASET.value:
            raise app.UsageError('evaluate --samples needs --dataset')
        result = evaluate.evaluate_samples_file(_SAMPLES.value, _DATASET.value, split=_SPLIT.value,
                                                network=_FEATURES.value, seed=_SEED.value)
    else:
        result = evaluate.evaluate_workdir(_WORKDIR.value, num_samples=_NUM.value or 10_000, seed=_SEED.value,
                                           split=_SPLIT.value, network=_FEATURES.value)
    print(json.dumps(result))


def _split_config_overrides(argv: list[str]) -> tuple[list[str], list[str]]:
    """Pulls `--config.a.b=value` (or `--config.a.b value`) out of argv as `a.b=value` strings."""
    overrides, rest = [], []
    args = iter(argv)
    for arg in args:
        if arg.startswith('--config.'):
            key, sep, value = arg[len('--config.'):].partition('=')
            if not sep:
                value = next(args, None)
                if value is None:
                    raise app.UsageError(f'{arg} needs a value')
            overrides.append(f'{key}={value}')
        else:
            rest.append(arg)
    return overrides, rest


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `gans` console script; `argv[0]` is the program name."""
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] not in COMMANDS:
        print(f'usage: gans {{{",".join(COMMANDS)}}} [flags]   (gans <command> --helpfull for all flags)',
              file=sys.stderr)
        sys.exit(2)
    command = argv.pop(1)
    overrides, argv = _split_config_overrides(argv)
    # Reset first so that calling main() twice in one process (tests, notebooks) starts from defaults.
    flags.FLAGS.unparse_flags()
    app.define_help_flags()
    rest = app.parse_flags_with_usage(argv)
    if len(rest) > 1:
        raise app.UsageError(f'unexpected arguments {rest[1:]}')
    if _WORKDIR.value is None and not (command == 'evaluate' and _SAMPLES.value):
        raise app.UsageError('--workdir is required')
    {'train': _train, 'sample': _sample, 'evaluate': _evaluate}[command](overrides)
