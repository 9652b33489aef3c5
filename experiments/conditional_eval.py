"""Does a trained conditional GAN obey its labels, and does InfoGAN's categorical code find the digits?

    python experiments/conditional_eval.py --workdir runs/cgan --grid cgan.png
    python experiments/conditional_eval.py --workdir runs/infogan --grid infogan.png

For each value v of the generator's discrete input (`labels` of cgan/acgan, `codes` of infogan)
it draws `--per_value` samples from the game's own latent distribution with that input set to
v (EMA generator, inference mode), and classifies them with the shipped digits classifier.

- labels: accuracy = fraction of samples classified as the label they were made for;
- codes (no labels were used in training): each code value is mapped to the class most of its
  samples are classified as; agreement = fraction of all samples in their code's majority class.

Prints one JSON object; `--grid` saves a PNG whose row v holds the first 10 samples of value v.
"""
from __future__ import annotations

import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np

from gans.inference import sampling
from gans.inference.runs import load_trained_run
from gans.metrics import digits_classifier

GRID_COLUMNS = 10


def discrete_input(config, game) -> tuple[str, int]:
    """(name of the generator's discrete input, its number of values) for the run's game, from
    `game.categorical_inputs()`: its labels (cgan, acgan) or its categorical code (infogan)."""
    inputs = game.categorical_inputs()
    if not inputs:
        raise ValueError(f'game {config.game!r} has no discrete generator input; this evaluates cgan, acgan, '
                         f'infogan')
    name = 'labels' if 'labels' in inputs else next(iter(inputs))
    return name, inputs[name]


def samples_per_value(state, game, name: str, num_values: int, per_value: int, seed: int) -> np.ndarray:
    """uint8 samples [num_values, per_value, H, W, C]; value v's latents come from fold_in(key, v)."""
    key = jax.random.key(seed)
    out = []
    for value in range(num_values):
        latents = game.sample_latents(jax.random.fold_in(key, value), per_value)
        latents[name] = jnp.full((per_value,), value, jnp.int32)
        out.append(sampling.to_uint8(sampling.generate(state, latents)))
    return np.stack(out)


def score(predicted: np.ndarray, by_code: bool) -> dict:
    """Scores predicted classes [num_values, per_value] of samples made for each value."""
    num_values, per_value = predicted.shape
    counts = np.stack([np.bincount(row, minlength=digits_classifier.NUM_CLASSES) for row in predicted])
    fractions = counts.sum(0) / predicted.size
    result = {'samples': int(predicted.size),
              'classes_present': int(np.sum(fractions >= 0.02)),  # as in digits_classifier.report
              'class_fractions': [round(float(f), 4) for f in fractions]}
    if by_code:
        majority = counts.argmax(1)
        result.update(code_to_class=[int(c) for c in majority],
                      distinct_classes_of_codes=int(len(set(majority.tolist()))),
                      per_code_agreement=[round(float(counts[v, c] / per_value), 4) for v, c in enumerate(majority)],
                      agreement=float(counts[np.arange(num_values), majority].sum() / predicted.size))
    else:
        correct = predicted == np.arange(num_values)[:, None]
        result.update(per_label_accuracy=[round(float(a), 4) for a in correct.mean(1)],
                      label_accuracy=float(correct.mean()))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--workdir', required=True)
    parser.add_argument('--per_value', type=int, default=100)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--step', type=int, default=None, help='checkpoint step (default: the latest)')
    parser.add_argument('--grid', default=None, help='PNG path for the samples grid (rows = values)')
    args = parser.parse_args()

    state, config, game = load_trained_run(args.workdir, args.step)
    name, num_values = discrete_input(config, game)
    images = samples_per_value(state, game, name, num_values, args.per_value, args.seed)
    probs = digits_classifier.predict(digits_classifier.load_params(), images.reshape(-1, *images.shape[2:]))
    predicted = probs.argmax(-1).reshape(num_values, args.per_value)
    result = {'workdir': args.workdir, 'game': config.game, 'step': int(jax.device_get(state.step)),
              'input': name, 'per_value': args.per_value, 'seed': args.seed,
              'mean_confidence': float(probs.max(-1).mean()), **score(predicted, by_code=name == 'codes')}
    if args.grid:
        rows = images[:, :GRID_COLUMNS]
        sampling.save_png(sampling.image_grid(rows.reshape(-1, *rows.shape[2:]), columns=rows.shape[1]), args.grid)
        result['grid'] = args.grid
    print(json.dumps(result))


if __name__ == '__main__':
    main()
