"""The pix2pix paper's two ablations on fashion_edges, trained and scored one after another.

    python experiments/pix2pix_ablation.py [--runs all] [--out experiments/results/pix2pix_fashion_edges]
                                           [--workdirs runs/pix2pix_ablation]

Runs (each the shipped config, `experiments/configs/pix2pix_fashion_edges.py`, with one change):
- `l1_cgan_unet`: the default, L1 + cGAN with the U-Net;
- `l1_unet`: L1 only (`pix2pix.gan_weight=0`);
- `cgan_unet`: cGAN only (`pix2pix.l1_weight=0`);
- `l1_cgan_encoder_decoder`: L1 + cGAN with the encoder-decoder (`generator.skips=False`).

Each run trains in `<workdirs>/<name>` (resumed if already there), is scored on the test split
(`gans.inference.evaluate.evaluate_workdir`: L1, PSNR, SSIM, FD, class preservation), and
writes `<out>/<name>.json` with the wall time and the commands, and `<out>/<name>_test.png`,
16 test examples: edges | translation | target; the table of all finished runs goes to
`<out>/table.md`.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

from gans import config as config_lib
from gans.engine.loop import train
from gans.inference import evaluate
from gans.inference.runs import load_trained_run
from gans.inference.translation import translate_split, write_translations

CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'configs', 'pix2pix_fashion_edges.py')
RUNS = {
    'l1_cgan_unet': [],
    'l1_unet': ['pix2pix.gan_weight=0.0'],
    'cgan_unet': ['pix2pix.l1_weight=0.0'],
    'l1_cgan_encoder_decoder': ['generator.skips=False'],
}
COLUMNS = ('l1', 'psnr', 'ssim', 'fd', 'class_preservation')


def run(name: str, out: str, workdirs: str, extra: list[str]) -> dict:
    overrides = RUNS[name] + extra
    workdir = os.path.join(workdirs, name)
    config = config_lib.load_config(CONFIG, overrides)
    started = time.perf_counter()
    train(config, workdir)
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    metrics = evaluate.evaluate_workdir(workdir)
    eval_s = time.perf_counter() - started
    state, run_config, game = load_trained_run(workdir)
    npz, _ = write_translations(translate_split(state, game, run_config, num=16), os.path.join(out, f'{name}_test.npz'))
    os.remove(npz)  # the PNG beside it is what the results page shows
    flags = ' '.join(f'--config.{o}' for o in overrides)
    result = {'name': name, 'overrides': overrides, 'train_wall_s': round(train_s, 1),
              'eval_wall_s': round(eval_s, 1), 'metrics': metrics, 'machine': f'{platform.machine()}, '
              f'{os.cpu_count()} cores', 'commands': [
                  f'gans train --config experiments/configs/pix2pix_fashion_edges.py --workdir {workdir} {flags}'.strip(),
                  f'gans evaluate --workdir {workdir}']}
    with open(os.path.join(out, f'{name}.json'), 'w') as f:
        json.dump(result, f, indent=2)
    return result


def table(out: str) -> str:
    lines = ['| run | L1 | PSNR (dB) | SSIM | FD | class preservation | train wall |', '|---|---|---|---|---|---|---|']
    for name in RUNS:
        path = os.path.join(out, f'{name}.json')
        if not os.path.isfile(path):
            continue
        result = json.load(open(path))
        m = result['metrics']
        lines.append(f'| {name} | {m["l1"]:.4f} | {m["psnr"]:.2f} | {m["ssim"]:.4f} | {m["fd"]:.2f} | '
                     f'{m["class_preservation"]:.3f} | {result["train_wall_s"] / 60:.1f} min |')
    return '\n'.join(lines) + '\n'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default='experiments/results/pix2pix_fashion_edges')
    parser.add_argument('--workdirs', default='runs/pix2pix_ablation')
    parser.add_argument('--runs', default='all', help=f'comma-separated subset of {list(RUNS)}')
    parser.add_argument('--override', action='append', default=[], help='extra key=value for every run')
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    names = list(RUNS) if args.runs == 'all' else args.runs.split(',')
    for name in names:
        print(json.dumps(run(name, args.out, args.workdirs, args.override)), flush=True)
        with open(os.path.join(args.out, 'table.md'), 'w') as f:
            f.write(table(args.out))


if __name__ == '__main__':
    main()
