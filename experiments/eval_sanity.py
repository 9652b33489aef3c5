"""Sanity of the evaluation on real digits: where do known-good and known-bad sample sets land?

    python experiments/eval_sanity.py [--workdir runs/dcgan] [--out experiments/results/eval_sanity_digits.json]

Scores, against the digits train split with the digits feature network: the real test split
(300 images), uniform noise, one test digit repeated, and (with --workdir) a trained DCGAN at
300 samples (the test split's count, for a like-for-like FID) and at 10,000.
"""
import argparse
import json

import numpy as np

from gans.inference import evaluate
from gans.inference.runs import load_trained_run
from gans.metrics import digits_classifier
from gans.metrics.feature_networks import load_feature_network


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--workdir', default=None)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', default=None)
    args = parser.parse_args()

    network = load_feature_network('digits')
    ref = evaluate.reference('digits', network, split='train')
    test_images, _ = digits_classifier.load_split('test')
    rng = np.random.default_rng(args.seed)
    sets = {
        'real_test_split': test_images,
        'uniform_noise': rng.uniform(-1, 1, size=(1000, 32, 32, 1)).astype(np.float32),
        'one_repeated_digit': np.repeat(test_images[:1], 1000, axis=0),
    }
    results = {}
    for name, images in sets.items():
        results[name] = evaluate.image_metrics([images], ref, network, seed=args.seed)
    if args.workdir:
        state, config, game = load_trained_run(args.workdir)
        for num in (300, 10_000):
            results[f'dcgan_{num}'] = {'workdir': args.workdir, 'step': int(state.step),
                                       **evaluate.evaluate_state(state, config, game, num_samples=num,
                                                                 seed=args.seed)}
    text = json.dumps(results, indent=1)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text + '\n')


if __name__ == '__main__':
    main()
