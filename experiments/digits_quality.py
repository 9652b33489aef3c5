"""Judges generated digits with a classifier trained on the digits training split.

    python experiments/digits_quality.py --samples samples.npz [--seed 0]

Prints one JSON object: the classifier's test accuracy, and for both the real test split and
the samples, the predicted-class fractions, the mean confidence and how many of the ten
classes hold at least 2% of the images.
"""
import argparse
import json

import numpy as np

from gans.metrics import digits_classifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--samples', required=True, help='.npz written by `gans sample` (key `images`)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the classifier')
    parser.add_argument('--data_dir', default=None)
    args = parser.parse_args()

    params, accuracy = digits_classifier.train_classifier(seed=args.seed, data_dir=args.data_dir)
    test_images, _ = digits_classifier.load_split('test', args.data_dir)
    samples = np.load(args.samples)['images']
    result = {
        'classifier_seed': args.seed,
        'classifier_test_accuracy': accuracy,
        'real_test_split': digits_classifier.report(digits_classifier.predict(params, test_images)).as_dict(),
        'samples': {'file': args.samples,
                    **digits_classifier.report(digits_classifier.predict(params, samples)).as_dict()},
    }
    print(json.dumps(result, indent=1))


if __name__ == '__main__':
    main()
