"""`gans <command> [flags]`: thin wrappers that parse flags and call library functions.

`gans --help` lists the commands, `gans <command> --help` one command's flags and an example.
`main(argv)` raises the library's exceptions (for tests and notebooks); `run()`, the console
script, turns a user's mistake into `gans <command>: error: <message>` and exit status 2
(`--verbose` or GANS_VERBOSE=1 shows the traceback), a stopped run into status 1.
"""
from __future__ import annotations

import os
import sys
from typing import Any, NamedTuple

from absl import app, flags

_FLAGS = flags.FLAGS
flags.DEFINE_string('config', None, 'a shipped config\'s name (`gans list`) or a config file, optionally with '
                    '`:variant` (`:tiny` runs in seconds)')
flags.DEFINE_string('workdir', None, 'directory of the run: checkpoints, logs, samples')
flags.DEFINE_bool('allow_config_change', False, 'resume under a config that differs from the run\'s config.json '
                  'in more than run length and logging (recorded in config_history.jsonl)')
flags.DEFINE_integer('num', None, 'how many samples / examples')
flags.DEFINE_integer('seed', 0, 'seed of the latents (and of KID subsets, test-time dropout)')
flags.DEFINE_string('out', None, 'output file')
flags.DEFINE_string('samples', None, 'a `gans sample` .npz to evaluate instead of a workdir')
flags.DEFINE_string('dataset', None, 'with --samples: the dataset to compare with')
flags.DEFINE_string('split', None, 'the split to compare with or to use')
flags.DEFINE_string('direction', None, 'a translation run\'s direction (CycleGAN: a2b or b2a; default: the '
                    'game\'s first; evaluate: every direction)')
flags.DEFINE_string('input', None, 'an .npz of your own inputs (key `images`, uint8 NHWC)')
flags.DEFINE_string('feature_network', None, 'digits, fashion or inception (default: by dataset)')
flags.DEFINE_enum('method', 'slerp', ['linear', 'slerp'], 'how latents are mixed')
flags.DEFINE_integer('steps', None, 'columns per row')
flags.DEFINE_string('expression', '7-1+0', 'class means to add and subtract')
flags.DEFINE_bool('verbose', False, 'on an error, show the traceback')


class Command(NamedTuple):
    summary: str
    example: str
    defaults: dict[str, Any]  # this command's flags, with its own defaults (None: required or unset)


_FIGURE = {'workdir': None, 'num': None, 'seed': 0, 'out': None}
COMMANDS: dict[str, Command] = {
    'train': Command('train a config in a workdir; run it again to resume',
                     'gans train --config dcgan_digits --workdir runs/dcgan --config.gan.loss=hinge',
                     {'config': None, 'workdir': None, 'allow_config_change': False}),
    'sample': Command('write samples of a trained run (.npz of uint8 images, or points)',
                      'gans sample --workdir runs/dcgan --num 1000 --seed 0 --out samples.npz',
                      {'workdir': None, 'num': 1000, 'seed': 0, 'out': 'samples.npz'}),
    'evaluate': Command('FID, KID, IS, precision/recall of a run or a samples file (translation runs: L1, PSNR, '
                        'SSIM, FD)', 'gans evaluate --workdir runs/dcgan   |   gans evaluate --samples s.npz '
                        '--dataset digits', {'workdir': None, 'samples': None, 'dataset': None, 'split': None,
                                             'feature_network': None, 'num': 10_000, 'seed': 0,
                                             'direction': None}),
    'reconstruct': Command('a VAE run\'s held-out ELBO and reconstructions of a split',
                           'gans reconstruct --workdir runs/vae --split test',
                           {'workdir': None, 'split': 'test', 'num': 64, 'seed': 0, 'out': 'recon.npz'}),
    'translate': Command('translate a split (or your own images) with an image-to-image run',
                         'gans translate --workdir runs/cyclegan --direction b2a --split test --out b2a.npz',
                         {'workdir': None, 'split': None, 'input': None, 'num': None, 'seed': 0,
                          'out': 'translations.npz', 'direction': None}),
    'interpolate': Command('figure: rows of interpolations between latents', 'gans interpolate --workdir runs/dcgan',
                           {**_FIGURE, 'steps': 10, 'method': 'slerp', 'out': 'interpolate.png'}),
    'traverse': Command('figure: one categorical code or class varied per row', 'gans traverse --workdir runs/cgan',
                        {**_FIGURE, 'steps': 9, 'out': 'traverse.png'}),
    'manifold': Command('figure: the decoded grid of a 2-D latent space', 'gans manifold --workdir runs/vae2d',
                        {**_FIGURE, 'out': 'manifold.png'}),
    'arithmetic': Command('figure: latent arithmetic on digit class means',
                          'gans arithmetic --workdir runs/dcgan --expression 7-1+0',
                          {**_FIGURE, 'expression': '7-1+0', 'out': 'arithmetic.png'}),
    'plot': Command('PNG curves of a run\'s losses and metrics (from metrics.jsonl), without TensorBoard',
                    'gans plot --workdir runs/dcgan --out curves.png', {'workdir': None, 'out': 'curves.png'}),
    'list': Command('the shipped configs, games, models, objectives, datasets and feature networks', 'gans list',
                    {}),
}
FIGURE_COMMANDS = ('interpolate', 'traverse', 'manifold', 'arithmetic')


def _value(command: str, name: str):
    """A flag's value for `command`: as given, else the command's own default."""
    flag = _FLAGS[name]
    return flag.value if flag.present else COMMANDS[command].defaults[name]


def _train(command: str, overrides: list[str]) -> None:
    from gans.engine import distributed, workdir_lock
    config_path, workdir = _require(command, 'config'), _require(command, 'workdir')
    from gans.config import config_file
    config_file(config_path.partition(':')[0])  # a mistyped name fails here, before the workdir is made
    # One process: refuse a workdir in use before importing jax (a second run exits at once).
    # Multi-process runs are locked by process 0 once they have joined (gans.engine.loop).
    created = not os.path.exists(workdir)
    lock = None if distributed.wants_multi_process() else workdir_lock.acquire(workdir)
    try:
        from gans import config as config_lib
        from gans.engine.loop import train
        try:
            config = config_lib.load_config(config_path, overrides)
        except Exception:
            if lock and created:  # a config that does not load leaves no workdir behind
                workdir_lock.release(lock)
                lock = None
                workdir_lock.remove_empty(workdir)
            raise
        distributed.initialize_from_env()  # multi-process runs join here, before jax computes anything
        train(config, workdir, allow_config_change=_value(command, 'allow_config_change'))
    finally:
        if lock:
            workdir_lock.release(lock)


def _sample(command: str) -> None:
    from gans.inference.runs import load_trained_run, write_samples
    num = _value(command, 'num')
    state, _, game = load_trained_run(_require(command, 'workdir'))
    path = write_samples(state, game, num=num, seed=_value(command, 'seed'), out=_value(command, 'out'))
    print(f'wrote {num} samples to {path}')


def _evaluate(command: str) -> None:
    import json
    from gans.inference import evaluate
    samples, network, seed = _value(command, 'samples'), _value(command, 'feature_network'), _value(command, 'seed')
    if samples:
        if _FLAGS['workdir'].present:
            raise app.UsageError('evaluate takes --workdir or --samples, not both')
        dataset = _value(command, 'dataset')
        if not dataset:
            raise app.UsageError('evaluate --samples needs --dataset (the data to compare with)')
        result = evaluate.evaluate_samples_file(samples, dataset, split=_value(command, 'split') or 'train',
                                                network=network, seed=seed)
    else:
        result = evaluate.evaluate_workdir(_require(command, 'workdir', 'or --samples'),
                                           num_samples=_value(command, 'num'), seed=seed,
                                           split=_value(command, 'split'), network=network,
                                           direction=_value(command, 'direction'))
    print(json.dumps(result))


def _reconstruct(command: str) -> None:
    import json
    from gans.inference import reconstruction
    result = reconstruction.reconstruct_workdir(
        _require(command, 'workdir'), split=_value(command, 'split'), num=_value(command, 'num'),
        out=_value(command, 'out'), seed=_value(command, 'seed'))
    print(json.dumps(result))


def _translate(command: str) -> None:
    from gans import data
    from gans.inference import translation
    from gans.inference.runs import load_trained_run
    state, config, game = load_trained_run(_require(command, 'workdir'))
    direction = translation.resolve_direction(game, _value(command, 'direction'))
    seed = _value(command, 'seed')
    if _value(command, 'input'):
        if _FLAGS['split'].present:
            raise app.UsageError('translate takes --split or --input, not both')
        shape = data.config_spec(config).features[game.directions[direction].source]
        arrays = translation.translate_images(state, game, translation.read_images(_value(command, 'input'), shape),
                                              seed=seed, direction=direction)
    else:
        arrays = translation.translate_split(state, game, config, split=_value(command, 'split') or 'test',
                                             num=_value(command, 'num'), seed=seed, direction=direction)
    npz, png = translation.write_translations(arrays, _value(command, 'out'))
    print(f'wrote {len(arrays["outputs"])} translations ({direction}) to {npz} (first rows: {png})')


def _figure(command: str) -> None:
    """The latent-space figures of gans.inference.latent_figures, written as a PNG."""
    import jax
    from gans.inference import latent_figures, sampling
    from gans.inference.runs import load_trained_run, prior_sampler
    state, config, game = load_trained_run(_require(command, 'workdir'))
    sample_latents = prior_sampler(game)
    key, num = jax.random.key(_value(command, 'seed')), _value(command, 'num')
    if command == 'interpolate':
        image = latent_figures.interpolation(state, sample_latents, key, rows=num or 8,
                                             steps=_value(command, 'steps'), method=_value(command, 'method'))
    elif command == 'traverse':
        image = latent_figures.traversal(state, sample_latents, key, game.categorical_inputs(), rows=num or 5,
                                         steps=_value(command, 'steps'))
    elif command == 'manifold':
        image = latent_figures.manifold(state, sample_latents, key, size=num or 20)
    else:
        image = latent_figures.arithmetic(state, sample_latents, key, _value(command, 'expression'),
                                          _digit_classes(config.dataset), 10, num_samples=num or 2000)
    out = _value(command, 'out')
    sampling.save_png(image, out)
    print(f'wrote {out}')


def _plot(command: str) -> None:
    from gans.inference import plots
    out = _value(command, 'out')
    names = plots.plot_metrics(_require(command, 'workdir'), out)
    print(f'wrote {out} ({", ".join(names)})')


def _list(command: str) -> None:
    from gans import catalog
    print(catalog.describe())


def _digit_classes(dataset: str):
    """uint8 images -> digit classes by the evaluation's digits classifier (grouping for arithmetic)."""
    from gans.metrics import digits_classifier
    if dataset != 'digits':
        raise app.UsageError(f'arithmetic groups samples by the digits classifier; dataset {dataset!r} has none')
    params = digits_classifier.load_params()
    return lambda images: digits_classifier.predict(params, images).argmax(-1)


def _require(command: str, name: str, alternative: str = '') -> Any:
    value = _value(command, name)
    if value is None:
        raise app.UsageError(f'--{name} is required{f" ({alternative})" if alternative else ""}; '
                             f'e.g. {COMMANDS[command].example}')
    return value


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


def overview() -> str:
    """`gans --help`: every command with one line."""
    width = max(map(len, COMMANDS))
    lines = ['usage: gans <command> [flags]   (gans <command> --help for its flags)', '', 'commands:']
    lines += [f'  {name:<{width}}  {command.summary}' for name, command in COMMANDS.items()]
    lines += ['', 'e.g.  gans train --config dcgan_digits --workdir runs/dcgan', '      gans list']
    return '\n'.join(lines)


def command_help(command: str) -> str:
    """`gans <command> --help`: the command's flags with its defaults, and an example."""
    spec = COMMANDS[command]
    lines = [f'usage: gans {command} [flags]', '', spec.summary, '', f'example: {spec.example}']
    if spec.defaults:
        lines += ['', 'flags:']
        for name, default in spec.defaults.items():
            shown = 'required' if default is None and name in ('config', 'workdir') else f'default: {default!r}'
            lines.append(f'  --{name}: {_FLAGS[name].help} ({shown})')
    if command == 'train':
        lines += ['  --config.<field>=<value>: override a field of the config (e.g. --config.num_steps=200)']
    lines += ['  --verbose: on an error, show the traceback']
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> None:
    """Runs `argv` (`argv[0]` is the program name); raises the library's exceptions."""
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] in ('-h', '--help', 'help'):
        print(overview())
        return
    command = argv.pop(1)
    if command not in COMMANDS:
        raise app.UsageError(f'unknown command {command!r}; the commands: {", ".join(COMMANDS)}')
    if any(arg in ('-h', '--help', '--helpfull') for arg in argv[1:]):
        print(command_help(command))
        return
    overrides, argv = _split_config_overrides(argv)
    # Reset first so that calling main() twice in one process (tests, notebooks) starts from defaults.
    _FLAGS.unparse_flags()
    try:
        rest = _FLAGS(argv)
    except flags.Error as error:
        raise app.UsageError(str(error)) from None
    if len(rest) > 1:
        raise app.UsageError(f'unexpected arguments {rest[1:]}')
    foreign = [f'--{name}' for name in _FLAGS if _FLAGS[name].present and name not in COMMANDS[command].defaults
               and name != 'verbose']
    if foreign:
        raise app.UsageError(f'{", ".join(foreign)}: not a flag of `gans {command}`; its flags: '
                             f'{", ".join("--" + n for n in COMMANDS[command].defaults) or "none"}')
    if overrides and command != 'train':
        raise app.UsageError(f'{command} takes no --config overrides: it uses the config saved in the workdir')
    if command == 'train':
        _train(command, overrides)
    elif command in FIGURE_COMMANDS:
        _figure(command)
    else:
        {'sample': _sample, 'evaluate': _evaluate, 'reconstruct': _reconstruct, 'translate': _translate,
         'plot': _plot, 'list': _list}[command](command)


def run() -> None:
    """The `gans` console script: `main`, with a user's mistake as one line and status 2."""
    from gans import errors
    command = sys.argv[1] if len(sys.argv) > 1 else ''
    verbose = '--verbose' in sys.argv or os.environ.get('GANS_VERBOSE', '') not in ('', '0')
    try:
        main()
    except errors.user_errors() as error:
        if verbose:
            raise
        print(f'gans{" " + command if command in COMMANDS else ""}: error: {errors.message(error)}', file=sys.stderr)
        print('(run with --verbose or GANS_VERBOSE=1 for the traceback)', file=sys.stderr)
        raise SystemExit(2) from None
    except errors.run_errors() as error:
        if verbose:
            raise
        print(f'gans {command}: stopped: {error}', file=sys.stderr)
        raise SystemExit(1) from None
