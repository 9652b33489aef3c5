"""Trains the Fashion-MNIST feature network and writes the weights that ship in the package.

    python experiments/train_fashion_classifier.py [--seed 0] [--steps 4000] [--out PATH]

Needs Fashion-MNIST (`apt-get install dataset-fashion-mnist`, or TFDS's fashion_mnist prepared
as array_record). Prints the loss every --log_every steps to stderr, then JSON with the seed,
steps, wall time, the test accuracy of the float32 and of the saved float16 weights (overall
and per class) and the file size. The run is deterministic on a given machine: same seed,
same weights.
"""
import argparse
import json
import os
import sys
import time

from gans.metrics import fashion_classifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--steps', type=int, default=4000)
    parser.add_argument('--batch_size', type=int, default=128)
    parser.add_argument('--learning_rate', type=float, default=2e-3)
    parser.add_argument('--log_every', type=int, default=250)
    parser.add_argument('--out', default=fashion_classifier.WEIGHTS_PATH)
    parser.add_argument('--data_dir', default=None)
    args = parser.parse_args()

    start = time.time()
    log = lambda step, m: print(json.dumps({'step': step, 'wall_s': round(time.time() - start, 1), **m}),
                                file=sys.stderr, flush=True)
    params = fashion_classifier.train_classifier(
        seed=args.seed, steps=args.steps, batch_size=args.batch_size, learning_rate=args.learning_rate,
        data_dir=args.data_dir, log=log, log_every=args.log_every)
    train_s = time.time() - start
    float32 = fashion_classifier.test_accuracy(params, args.data_dir)
    fashion_classifier.save_params(params, args.out)
    shipped = fashion_classifier.test_accuracy(fashion_classifier.load_params(args.out), args.data_dir)
    print(json.dumps({'seed': args.seed, 'steps': args.steps, 'batch_size': args.batch_size,
                      'learning_rate': args.learning_rate, 'out': args.out,
                      'train_wall_s': round(train_s, 1), 'total_wall_s': round(time.time() - start, 1),
                      'test_accuracy_float32': float32['accuracy'],
                      'test_accuracy_saved_float16': shipped['accuracy'],
                      'per_class_saved_float16': shipped['per_class'],
                      'bytes': os.path.getsize(args.out)}, indent=1))


if __name__ == '__main__':
    main()
