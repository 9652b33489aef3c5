"""Trains the digits feature network and writes the weights that ship in the package.

    python experiments/train_digits_classifier.py [--seed 0] [--steps 2000] [--out PATH]

Prints JSON with the seed, steps, the test accuracy of the saved (float16) weights and the
file size. The run is deterministic on a given machine: same seed, same weights.
"""
import argparse
import json
import os

from gans.metrics import digits_classifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--steps', type=int, default=2000)
    parser.add_argument('--out', default=digits_classifier.WEIGHTS_PATH)
    parser.add_argument('--data_dir', default=None)
    args = parser.parse_args()
    params, float32_accuracy = digits_classifier.train_classifier(seed=args.seed, steps=args.steps,
                                                                  data_dir=args.data_dir)
    digits_classifier.save_params(params, args.out)
    shipped = digits_classifier.load_params(args.out)
    print(json.dumps({'seed': args.seed, 'steps': args.steps, 'out': args.out,
                      'test_accuracy_float32': float32_accuracy,
                      'test_accuracy_saved_float16': digits_classifier.test_accuracy(shipped, args.data_dir),
                      'bytes': os.path.getsize(args.out)}))


if __name__ == '__main__':
    main()
