"""`gans <command> [flags]`: thin wrappers that parse flags and call library functions.

  gans train  --config experiments/configs/dcgan_digits.py[:tiny] --workdir runs/dcgan [--config.loss=hinge ...]
  gans sample --workdir runs/dcgan --num 1000 --seed 0 --out samples.npz
  gans evaluate --workdir runs/dcgan [--num 10000 --seed 0]
  gans evaluate --samples samples.npz --dataset digits
  gans reconstruct --workdir runs/vae [--split test] [--num 64] [--out recon.npz]   VAEs: held-out ELBO
  gans translate --workdir runs/pix2pix [--split test | --input images.npz] [--out translations.npz]
  gans interpolate|traverse|manifold|arithmetic --workdir runs/x [--out fig.png]   latent-space figures
"""
from __future__ import annotations

import sys

from absl import app, flags

FIGURE_COMMANDS = ('interpolate', 'traverse', 'manifold', 'arithmetic')
COMMANDS = ('train', 'sample', 'evaluate', 'reconstruct', 'translate', *FIGURE_COMMANDS)

_CONFIG = flags.DEFINE_string('config', None, 'Config file, optionally `path:variant`; override any field '
                              'with --config.<field>=<value>.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Directory of the run: checkpoints, logs, samples.')
_NUM = flags.DEFINE_integer('num', None, 'sample/evaluate: number of samples (default 1000 / 10000).')
_SEED = flags.DEFINE_integer('seed', 0, 'sample/evaluate: seed of the latents (and of KID subsets).')
_OUT = flags.DEFINE_string('out', 'samples.npz', 'sample: output .npz file.')
_SAMPLES = flags.DEFINE_string('samples', None, 'evaluate: a `gans sample` .npz instead of a workdir.')
_DATASET = flags.DEFINE_string('dataset', None, 'evaluate --samples: the dataset to compare with.')
_SPLIT = flags.DEFINE_string('split', None, 'evaluate: reference split (default train; translation runs: test); '
                              'reconstruct, translate: the split to use (default test).')
_INPUT = flags.DEFINE_string('input', None, 'translate: an .npz of your own inputs (key `images`, uint8 NHWC).')
_FEATURES = flags.DEFINE_string('feature_network', None, 'evaluate: digits, fashion or inception (default: by dataset).')
_METHOD = flags.DEFINE_enum('method', 'slerp', ['linear', 'slerp'], 'interpolate: how latents are mixed.')
_STEPS = flags.DEFINE_integer('steps', None, 'interpolate/traverse: columns per row (default 10 / 9).')
_ALLOW_CONFIG_CHANGE = flags.DEFINE_bool(
    'allow_config_change', False, 'train: resume an existing workdir under a config that differs from its '
    'config.json in more than run length and logging (the change is recorded in config_history.jsonl).')
_EXPRESSION = flags.DEFINE_string('expression', '7-1+0', 'arithmetic: class means to add and subtract.')


def _train(overrides: list[str]) -> None:
    from gans.engine import distributed, workdir_lock
    if _CONFIG.value is None:
        raise app.UsageError('train needs --config (e.g. experiments/configs/dcgan_digits.py)')
    # One process: refuse a workdir in use before importing jax (a second run exits at once).
    # Multi-process runs are locked by process 0 once they have joined (gans.engine.loop).
    lock = None if distributed.wants_multi_process() else workdir_lock.acquire(_WORKDIR.value)
    try:
        from gans import config as config_lib
        from gans.engine.loop import train
        distributed.initialize_from_env()  # multi-process runs join here, before jax computes anything
        train(config_lib.load_config(_CONFIG.value, overrides), _WORKDIR.value,
              allow_config_change=_ALLOW_CONFIG_CHANGE.value)
    finally:
        if lock:
            workdir_lock.release(lock)


def _sample(overrides: list[str]) -> None:
    if overrides:
        raise app.UsageError('sample takes no --config overrides: it uses the config saved in the workdir')
    from gans.inference.runs import load_trained_run, write_samples
    num = _NUM.value or 1000
    state, _, game = load_trained_run(_WORKDIR.value)
    path = write_samples(state, game, num=num, seed=_SEED.value, out=_OUT.value)
    print(f'wrote {num} samples to {path}')


def _evaluate(overrides: list[str]) -> None:
    import json
    from gans.inference import evaluate
    if overrides:
        raise app.UsageError('evaluate takes no --config overrides')
    if _SAMPLES.value:
        if not _DATASET.value:
            raise app.UsageError('evaluate --samples needs --dataset')
        result = evaluate.evaluate_samples_file(_SAMPLES.value, _DATASET.value, split=_SPLIT.value or 'train',
                                                network=_FEATURES.value, seed=_SEED.value)
    else:
        result = evaluate.evaluate_workdir(_WORKDIR.value, num_samples=_NUM.value or 10_000, seed=_SEED.value,
                                           split=_SPLIT.value, network=_FEATURES.value)
    print(json.dumps(result))



def _reconstruct(overrides: list[str]) -> None:
    """A VAE run's held-out ELBO (printed as JSON) and reconstructions of a split (.npz and .png)."""
    import json
    from gans.inference import reconstruction
    if overrides:
        raise app.UsageError('reconstruct takes no --config overrides')
    # Its own defaults where the shared flags were not given: the test split and recon.npz.
    result = reconstruction.reconstruct_workdir(
        _WORKDIR.value, split=_SPLIT.value or 'test',
        num=_NUM.value or reconstruction.DEFAULT_NUM_RECONSTRUCTIONS,
        out=_OUT.value if flags.FLAGS['out'].present else 'recon.npz', seed=_SEED.value)
    print(json.dumps(result))


def _translate(overrides: list[str]) -> None:
    """An image-to-image run's translations of a split (or of --input images), as .npz and .png."""
    from gans import data
    from gans.inference import translation
    from gans.inference.runs import load_trained_run
    if overrides:
        raise app.UsageError('translate takes no --config overrides')
    state, config, game = load_trained_run(_WORKDIR.value)
    translation.check_translation_game(game)
    if _INPUT.value:
        if _SPLIT.value:
            raise app.UsageError('translate takes --split or --input, not both')
        shape = data.config_spec(config).features[game.source_key]
        arrays = translation.translate_images(state, game, translation.read_images(_INPUT.value, shape),
                                              seed=_SEED.value)
    else:
        arrays = translation.translate_split(state, game, config, split=_SPLIT.value or 'test', num=_NUM.value,
                                             seed=_SEED.value)
    out = _OUT.value if _OUT.present else 'translations.npz'
    npz, png = translation.write_translations(arrays, out)
    print(f'wrote {len(arrays["outputs"])} translations to {npz} (first rows: {png})')


def _figure(command: str, overrides: list[str]) -> None:
    """The latent-space figures of gans.inference.latent_figures, written as a PNG."""
    import jax
    from gans.inference import latent_figures, sampling
    from gans.inference.runs import load_trained_run, prior_sampler
    if overrides:
        raise app.UsageError(f'{command} takes no --config overrides')
    state, config, game = load_trained_run(_WORKDIR.value)
    sample_latents = prior_sampler(game)
    key, num, steps = jax.random.key(_SEED.value), _NUM.value, _STEPS.value
    if command == 'interpolate':
        image = latent_figures.interpolation(state, sample_latents, key, rows=num or 8, steps=steps or 10,
                                             method=_METHOD.value)
    elif command == 'traverse':
        image = latent_figures.traversal(state, sample_latents, key, game.categorical_inputs(), rows=num or 5,
                                         steps=steps or 9)
    elif command == 'manifold':
        image = latent_figures.manifold(state, sample_latents, key, size=num or 20)
    else:
        image = latent_figures.arithmetic(state, sample_latents, key, _EXPRESSION.value,
                                          _digit_classes(config.dataset), 10, num_samples=num or 2000)
    out = _OUT.value if _OUT.present else f'{command}.png'
    sampling.save_png(image, out)
    print(f'wrote {out}')


def _digit_classes(dataset: str):
    """uint8 images -> digit classes by the evaluation's digits classifier (grouping for arithmetic)."""
    from gans.metrics import digits_classifier
    if dataset != 'digits':
        raise app.UsageError(f'arithmetic groups samples by the digits classifier; dataset {dataset!r} has none')
    params = digits_classifier.load_params()
    return lambda images: digits_classifier.predict(params, images).argmax(-1)


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
    from gans.engine.workdir_lock import WorkdirLockedError
    try:
        if command in FIGURE_COMMANDS:
            _figure(command, overrides)
            return
        {'train': _train, 'sample': _sample, 'evaluate': _evaluate, 'reconstruct': _reconstruct,
         'translate': _translate}[command](overrides)
    except WorkdirLockedError as error:
        print(f'gans {command}: {error}', file=sys.stderr)
        raise SystemExit(2) from None
