"""Converts pytorch-fid's FID Inception weights into this library's weight file.

    python experiments/convert_inception_weights.py pt_inception-2015-12-05-6726825d.pth [DEST]

The source is pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` (a state_dict of the TF
2015 FID graph ported to torch; it is published with pytorch-fid's releases). DEST defaults to
$GANS_INCEPTION_WEIGHTS, else ~/.cache/gans/inception_fid.npz, where `load_params` looks. The
written file is read back and compared array by array before the script reports success.

torch is needed here only, to read the .pth; the library itself never imports it.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os

import numpy as np

from gans.metrics import inception_weights

# torch hub names files `<name>-<first 8 hex digits of the file's sha256>.pth`.
EXPECTED_SHA256_PREFIX = '6726825d'


def sha256_prefix(path: str, length: int = 8) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()[:length]


def read_torch_state_dict(path: str) -> dict[str, np.ndarray]:
    """The .pth's tensors as float numpy arrays, by state_dict key."""
    try:
        import torch
    except ImportError as error:
        raise SystemExit('reading a .pth needs torch (pip install torch); the converted file does not') from error
    contents = torch.load(path, map_location='cpu', weights_only=True)
    if not isinstance(contents, dict):
        raise SystemExit(f'{path} holds a {type(contents).__name__}, not a state_dict of tensors')
    return {key: value.detach().cpu().numpy() for key, value in contents.items() if torch.is_tensor(value)}


def convert(source: str, dest: str) -> dict:
    """Converts `source` (.pth) to `dest` and verifies the written file; returns a summary."""
    if not os.path.isfile(source):
        raise SystemExit(f'no such file: {source} (expected pytorch-fid\'s {inception_weights.TORCH_WEIGHTS_FILE})')
    state_dict = read_torch_state_dict(source)
    variables = inception_weights.convert_torch_state_dict(state_dict)
    inception_weights.save_params(variables, dest)
    reloaded = inception_weights.load_params(dest)
    written, expected = (inception_weights.flatten(v) for v in (reloaded, variables))
    for key, value in expected.items():
        if not np.array_equal(np.asarray(written[key]), value):
            raise SystemExit(f'{dest} does not read back as written at {key}')
    digest = sha256_prefix(source)
    return {
        'source': source,
        'source_sha256_prefix': digest,
        'source_is_the_published_file': digest == EXPECTED_SHA256_PREFIX,
        'dest': os.path.abspath(dest),
        'torch_tensors': len(state_dict),
        'flax_variables': len(expected),
        'parameters': sum(v.size for k, v in expected.items() if k.startswith('params/')),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('source', help=f'path to {inception_weights.TORCH_WEIGHTS_FILE}')
    parser.add_argument('dest', nargs='?', default=None,
                        help=f'output .npz (default: ${inception_weights.ENV_VAR} or {inception_weights.DEFAULT_PATH})')
    args = parser.parse_args(argv)
    summary = convert(args.source, args.dest or inception_weights.default_path())
    if not summary['source_is_the_published_file']:
        print(f'warning: {args.source} has sha256 prefix {summary["source_sha256_prefix"]}, not '
              f'{EXPECTED_SHA256_PREFIX}; FIDs from it may not be comparable with published ones')
    print(json.dumps(summary, indent=1))
    return summary


if __name__ == '__main__':
    main()
