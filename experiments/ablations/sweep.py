"""Objectives x mode-collapse remedies on ring8 / grid25 (and digits), many seeds each: tables and plots.

    python -m experiments.ablations.sweep --steps 2000 --seeds 10            # from the repo root
    python -m experiments.ablations.sweep --mixtures ring8 --remedies none,pack4 --cross
    python -m experiments.ablations.sweep --mixtures '' --digits --seeds 3 --remedies none,pack4

Every (mixture, objective, remedy) cell trains all seeds as one vmapped program
(`gans.engine.seeds`), then scores 2500 samples per seed with
`gans.metrics.modes.mixture_mode_metrics`: modes covered (our default count rule, and with
min_count=1 as in VEEGAN / PacGAN tables), % high-quality samples, KL to uniform over modes.
By default each objective runs without remedy and each remedy with the non-saturating
objective; `--cross` runs the full product. Writes sweep.md, sweep.csv (mean and std per cell)
and sweep_seeds.csv (one row per seed) into --out, and per cell a scatter of the first seeds'
samples (`<mixture>_<variant>.png`).

`--digits` adds digits cells: each objective with its own digits config
(experiments/configs/<objective>_digits.py, `dcgan_digits.py` for the non-saturating loss, at
each config's own step count unless --digits-steps), each remedy on `dcgan_digits.py`. Each seed's
1000 samples are judged by the shipped digits classifier (classes with >= 2% of the samples,
rarest class, mean confidence): digits_sweep.csv, digits_sweep_seeds.csv, a table in sweep.md,
and per cell a grid `digits_<variant>.png` whose rows are seeds.
"""
from __future__ import annotations

import argparse
import csv
import os
import platform
import shlex
import sys
import time

import jax
import numpy as np

from gans.engine.seeds import generate_seeds, train_seeds
from gans import config as config_lib
from gans.inference import sampling
from gans.metrics import digits_classifier
from gans.metrics.modes import mixture_mode_metrics

CONFIG = 'experiments/configs/mlp_ring8.py'
OBJECTIVES = {
    'nonsaturating': ['gan.loss=nonsaturating'],
    'minimax': ['gan.loss=minimax'],
    'lsgan': ['gan.loss=lsgan'],
    'hinge': ['gan.loss=hinge'],
    'wgan_gp': ['gan.loss=wgan_gp'],
    # A game override starts the game's section from its defaults: latent 16 is the mixture
    # configs' (what these cells always used).
    # A 1-D bottleneck: with a code wider than the 2-D data the autoencoder learns the identity
    # and its energy tells G nothing (measured: every seed collapsed to one point).
    'began': ['game=began', 'began.latent_dim=16', 'began.code_dim=1'],
    'madgan8': ['game=madgan', 'madgan.latent_dim=16', 'madgan.generators=8'],
}
OWN_GAMES = ('began', 'madgan8')  # games of their own: no remedies of game gan
DIGITS_CONFIGS = {  # each objective's own digits config; remedies go on the non-saturating one's
    'nonsaturating': 'experiments/configs/dcgan_digits.py',
    **{name: f'experiments/configs/{name}_digits.py' for name in ('minimax', 'lsgan', 'hinge', 'wgan', 'wgan_gp',
                                                                 'began')},
}
DIGITS_SAMPLES = 1000
PLOTTED_SEEDS = 4  # scatter plots per mixture cell
GRID_SEEDS = 10  # rows of a digits cell's grid
REMEDIES = {
    'none': [],
    'unrolled5': ['gan.unroll_steps=5'],
    'replay': ['gan.replay_size=2560', 'gan.replay_fraction=0.5'],
    'minibatch': ['discriminator.batch_features=minibatch', 'discriminator.minibatch_kernels=8',
                  'discriminator.minibatch_kernel_dim=3'],
    'stddev': ['discriminator.batch_features=stddev'],
    'pack4': ['discriminator.pack=4'],
}
ANCHORS = ('Published anchors (modes / % high quality, min_count=1, trained far longer): ring8 vanilla '
           '1-6.3 modes, unrolled 7.6 / 35.6%, PacGAN 7.9 / 95.6%; grid25 PacGAN 24.8 / 93.6%.')
NUM_SAMPLES = 2500  # VEEGAN / PacGAN protocol
FIELDS = ('mixture', 'variant', 'seed', 'modes_covered', 'modes_min1', 'num_modes', 'high_quality_pct',
          'kl_to_uniform')


def pairs(objectives, remedies, cross: bool) -> list[tuple[str, str]]:
    """(objective, remedy) of each cell; BEGAN and MAD-GAN take no remedy of game gan."""
    if cross:
        chosen = [(o, r) for o in objectives for r in remedies]
    else:
        chosen = [(o, 'none') for o in objectives]
        chosen += [('nonsaturating', r) for r in remedies if r != 'none' and ('nonsaturating', r) not in chosen]
    return [(o, r) for o, r in chosen if not (o in OWN_GAMES and r != 'none')]


def variant_name(objective: str, remedy: str) -> str:
    return objective if remedy == 'none' else f'{objective}+{remedy}'


def cells(objectives, remedies, cross: bool) -> list[tuple[str, list[str]]]:
    """(variant name, config overrides) of each mixture cell."""
    return [(variant_name(o, r), OBJECTIVES[o] + REMEDIES[r]) for o, r in pairs(objectives, remedies, cross)]


def seed_rows(mixture: str, variant: str, points, seeds) -> list[dict]:
    """Mode metrics of every seed's samples `points` [S, N, 2]."""
    rows = []
    for seed, pts in zip(seeds, np.asarray(points)):
        if not np.all(np.isfinite(pts)):  # a diverged run scores nothing rather than crashing
            rows.append(dict(mixture=mixture, variant=variant, seed=seed, modes_covered=0, modes_min1=0,
                             num_modes=0, high_quality_pct=0.0, kl_to_uniform=float('nan')))
            continue
        metrics = mixture_mode_metrics(pts, mixture)
        rows.append(dict(mixture=mixture, variant=variant, seed=seed, modes_covered=metrics.modes_covered,
                         modes_min1=mixture_mode_metrics(pts, mixture, min_count=1).modes_covered,
                         num_modes=metrics.num_modes,
                         high_quality_pct=round(100 * metrics.high_quality_fraction, 2),
                         kl_to_uniform=round(metrics.kl_to_uniform, 4)))
    return rows


def digits_rows(variant: str, images, seeds, classifier: dict) -> list[dict]:
    """Classifier verdict on every seed's samples `images` [S, N, H, W, 1] in [-1, 1]."""
    rows = []
    for seed, imgs in zip(seeds, np.asarray(images)):
        if not np.all(np.isfinite(imgs)):
            rows.append(dict(dataset='digits', variant=variant, seed=seed, classes_present=0,
                             rarest_pct=0.0, confidence=float('nan')))
            continue
        verdict = digits_classifier.report(digits_classifier.predict(classifier, imgs))
        rows.append(dict(dataset='digits', variant=variant, seed=seed, classes_present=verdict.classes_present,
                         rarest_pct=round(100 * min(verdict.class_fractions), 1),
                         confidence=round(verdict.mean_confidence, 3)))
    return rows


def summarize_digits(rows: list[dict], wall_s: dict) -> list[dict]:
    summary = []
    for variant in dict.fromkeys(r['variant'] for r in rows):
        group = [r for r in rows if r['variant'] == variant]
        stat = lambda name: np.asarray([r[name] for r in group], np.float64)
        summary.append(dict(
            dataset='digits', variant=variant, seeds=len(group),
            classes_mean=round(float(stat('classes_present').mean()), 2),
            classes_std=round(float(stat('classes_present').std()), 2),
            all_ten=int(np.sum(stat('classes_present') == digits_classifier.NUM_CLASSES)),
            rarest_pct_mean=round(float(stat('rarest_pct').mean()), 1),
            confidence_mean=round(float(np.nanmean(stat('confidence'))), 3) if np.isfinite(stat('confidence')).any()
            else float('nan'),
            wall_s=round(wall_s.get(variant, float('nan')), 1)))
    return summary


def plot_points(points, path: str) -> None:
    """The first seeds' samples side by side."""
    panels = [sampling.points_image(p) for p in np.asarray(points)[:PLOTTED_SEEDS]]
    sampling.save_png(np.concatenate(panels, axis=1), path)


def plot_digits(images, path: str) -> None:
    """One row of ten samples per seed."""
    rows = np.asarray(images)[:GRID_SEEDS, :10]
    sampling.save_png(sampling.image_grid(sampling.to_uint8(rows.reshape(-1, *rows.shape[2:])), columns=10), path)


def _file_name(variant: str) -> str:
    return variant.replace('+', '_')


def summarize(rows: list[dict], wall_s: dict | None = None) -> list[dict]:
    """Mean and std over seeds per (mixture, variant), in first-seen order."""
    keys = list(dict.fromkeys((r['mixture'], r['variant']) for r in rows))
    summary = []
    for mixture, variant in keys:
        group = [r for r in rows if (r['mixture'], r['variant']) == (mixture, variant)]
        stat = lambda name: np.asarray([r[name] for r in group], np.float64)
        summary.append(dict(
            mixture=mixture, variant=variant, seeds=len(group),
            modes_mean=round(float(stat('modes_covered').mean()), 2), modes_std=round(float(stat('modes_covered').std()), 2),
            modes_min1_mean=round(float(stat('modes_min1').mean()), 2),
            hq_pct_mean=round(float(stat('high_quality_pct').mean()), 1), hq_pct_std=round(float(stat('high_quality_pct').std()), 1),
            kl_mean=round(float(np.nanmean(stat('kl_to_uniform'))), 3) if np.isfinite(stat('kl_to_uniform')).any() else float('nan'),
            wall_s=round((wall_s or {}).get((mixture, variant), float('nan')), 1)))
    return summary


def _write_csv(path: str, rows: list[dict]) -> None:
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_tables(rows: list[dict], summary: list[dict], out: str, header: str,
                 digit_rows: list[dict] = (), digit_summary: list[dict] = ()) -> None:
    os.makedirs(out, exist_ok=True)
    lines = [header]
    if rows:
        _write_csv(os.path.join(out, 'sweep_seeds.csv'), rows)
        _write_csv(os.path.join(out, 'sweep.csv'), summary)
        lines += ['', '| mixture | variant | seeds | modes (mean ± std) | modes, min_count=1 | % high quality '
                  '(mean ± std) | KL to uniform | wall s |', '|---|---|---|---|---|---|---|---|']
        for s in summary:
            lines.append(f"| {s['mixture']} | {s['variant']} | {s['seeds']} | {s['modes_mean']} ± {s['modes_std']} | "
                         f"{s['modes_min1_mean']} | {s['hq_pct_mean']} ± {s['hq_pct_std']} | {s['kl_mean']} | "
                         f"{s['wall_s']} |")
    if digit_rows:
        _write_csv(os.path.join(out, 'digits_sweep_seeds.csv'), list(digit_rows))
        _write_csv(os.path.join(out, 'digits_sweep.csv'), list(digit_summary))
        lines += ['', f'Digits: {DIGITS_SAMPLES} samples per seed, judged by the shipped digits classifier; a class '
                  'is present with >= 2% of the samples.', '',
                  '| dataset | variant | seeds | classes present (mean ± std) | seeds with all ten | rarest class % '
                  '(mean) | confidence | wall s |', '|---|---|---|---|---|---|---|---|']
        for s in digit_summary:
            lines.append(f"| digits | {s['variant']} | {s['seeds']} | {s['classes_mean']} ± {s['classes_std']} | "
                         f"{s['all_ten']} | {s['rarest_pct_mean']} | {s['confidence_mean']} | {s['wall_s']} |")
    with open(os.path.join(out, 'sweep.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--mixtures', default='ring8,grid25', help="comma-separated; '' for none")
    parser.add_argument('--objectives', default='nonsaturating,lsgan,hinge,began,madgan8')
    parser.add_argument('--remedies', default=','.join(REMEDIES))
    parser.add_argument('--cross', action='store_true', help='every objective with every remedy')
    parser.add_argument('--seeds', type=int, default=10)
    parser.add_argument('--steps', type=int, default=2000, help='steps of the mixture cells')
    parser.add_argument('--data', default='per_seed', choices=['per_seed', 'shared'])
    parser.add_argument('--config', default=CONFIG)
    parser.add_argument('--digits', action='store_true', help='add digits cells (see the module docstring)')
    parser.add_argument('--digit-objectives', default=','.join(DIGITS_CONFIGS))
    parser.add_argument('--digits-steps', type=int, default=None, help='default: each config\'s own num_steps')
    parser.add_argument('--variant', default='', help="config variant for every cell, e.g. 'tiny' (tests)")
    parser.add_argument('--set', default='', help='extra comma-separated config overrides for every cell')
    parser.add_argument('--out', default='experiments/results/sweep')
    args = parser.parse_args(argv)
    for name, valid in (('objectives', OBJECTIVES), ('remedies', REMEDIES), ('digit_objectives', DIGITS_CONFIGS)):
        unknown = [v for v in getattr(args, name).split(',') if v and v not in valid]
        if unknown:
            raise SystemExit(f'unknown {name} {unknown}; valid: {sorted(valid)}')
    extra = [s for s in args.set.split(',') if s]
    suffix = f':{args.variant}' if args.variant else ''
    remedies = args.remedies.split(',')
    seeds = list(range(args.seeds))
    os.makedirs(args.out, exist_ok=True)
    rows, wall = [], {}
    digit_rows, digit_wall = [], {}
    started = time.perf_counter()

    digits_steps_default = "each config's own number of"

    def write_all() -> None:
        """Tables of every finished cell: rewritten after each, so an interrupted sweep keeps them."""
        total = time.perf_counter() - started
        header = '\n'.join([
            '# Mode-collapse sweep', '',
            f'Command: `python -m experiments.ablations.sweep {shlex.join(sys.argv[1:] if argv is None else argv)}`',
            f'Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, '
            f'jax {jax.__version__} on {jax.devices()[0].platform}; total wall time {total:.0f} s '
            '(per cell: compile + train all seeds + sample).',
            *([f'{args.steps} steps x batch from {args.config} per seed, {args.seeds} seeds, data {args.data}; '
               f'{NUM_SAMPLES} samples per seed. "modes" counts a mode with >= 5% of its share of high-quality '
               'samples (gans.metrics.modes default); "min_count=1" is the VEEGAN/PacGAN rule.'] if args.mixtures else []),
            *([f'Digits cells: {args.digits_steps or digits_steps_default} steps, {args.seeds} seeds.']
              if args.digits else []), '',
            ANCHORS])
        write_tables(rows, summarize(rows, wall), args.out, header, digit_rows, summarize_digits(digit_rows, digit_wall))

    for mixture in filter(None, args.mixtures.split(',')):
        for variant, overrides in cells(args.objectives.split(','), remedies, args.cross):
            config = config_lib.load_config(args.config + suffix, [f'dataset={mixture}'] + overrides + extra)
            t0 = time.perf_counter()
            states, _ = train_seeds(config, seeds, num_steps=args.steps, data=args.data)
            points = generate_seeds(states, config, NUM_SAMPLES)
            jax.block_until_ready(points)
            wall[(mixture, variant)] = time.perf_counter() - t0
            rows += seed_rows(mixture, variant, points, seeds)
            plot_points(points, os.path.join(args.out, f'{mixture}_{_file_name(variant)}.png'))
            print(f'{mixture} {variant}: {wall[(mixture, variant)]:.1f}s', summarize(rows[-len(seeds):])[0],
                  file=sys.stderr, flush=True)
            write_all()
    if args.digits:
        classifier = digits_classifier.load_params()
        objectives = [o for o in args.digit_objectives.split(',') if o]
        for objective, remedy in pairs(objectives, remedies, args.cross):
            variant = variant_name(objective, remedy)  # the objective's settings are in its own config
            config = config_lib.load_config(DIGITS_CONFIGS[objective] + suffix, REMEDIES[remedy] + extra)
            t0 = time.perf_counter()
            states, _ = train_seeds(config, seeds, num_steps=args.digits_steps, data=args.data)
            images = generate_seeds(states, config, DIGITS_SAMPLES)
            jax.block_until_ready(images)
            digit_wall[variant] = time.perf_counter() - t0
            digit_rows += digits_rows(variant, images, seeds, classifier)
            plot_digits(images, os.path.join(args.out, f'digits_{_file_name(variant)}.png'))
            print(f'digits {variant}: {digit_wall[variant]:.1f}s', summarize_digits(digit_rows[-len(seeds):], {})[0],
                  file=sys.stderr, flush=True)
            write_all()
    write_all()
    print(f'wrote {args.out}/sweep.md ({time.perf_counter() - started:.0f} s)', file=sys.stderr)


if __name__ == '__main__':
    main()
