"""The InceptionV3-FID weight file: where it is looked for, its format, and the mapping from
pytorch-fid's state_dict. Nothing is ever downloaded: the user supplies the file.

File format, version 1: an uncompressed .npz holding one float32 array per model variable, keyed
by its Flax path joined with '/' (`params/Mixed_5b/branch1x1/conv/kernel`,
`batch_stats/Mixed_5b/branch1x1/bn/mean`, `params/fc/kernel`), in Flax layout (conv kernels
[kh, kw, in, out], the dense kernel [in, out]), plus `__format__` ('gans.inception_fid') and
`__version__` (1). Flat, so numpy alone can read it, and checked key by key and shape by shape
against the model on load.

Location: the path in $GANS_INCEPTION_WEIGHTS, else ~/.cache/gans/inception_fid.npz. It is made
from pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` (the TF 2015 FID graph ported to
torch) by experiments/convert_inception_weights.py, which uses `convert_torch_state_dict`.
"""

from __future__ import annotations

import functools
import os
import zipfile
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

ENV_VAR = 'GANS_INCEPTION_WEIGHTS'
DEFAULT_PATH = os.path.join('~', '.cache', 'gans', 'inception_fid.npz')
FORMAT_NAME = 'gans.inception_fid'
FORMAT_VERSION = 1
TORCH_WEIGHTS_FILE = 'pt_inception-2015-12-05-6726825d.pth'
TORCH_WEIGHTS_URL = f'https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{TORCH_WEIGHTS_FILE}'
CONVERT_SCRIPT = 'experiments/convert_inception_weights.py'

_SEP = '/'
# Batch-norm leaves: Flax (collection, name) -> torch state_dict suffix.
_BATCH_NORM_NAMES = {('params', 'scale'): 'weight', ('params', 'bias'): 'bias',
                     ('batch_stats', 'mean'): 'running_mean', ('batch_stats', 'var'): 'running_var'}
_TORCH_IGNORED_SUFFIX = '.num_batches_tracked'  # A training counter; inference never reads it.


def default_path() -> str:
    """$GANS_INCEPTION_WEIGHTS if set, else ~/.cache/gans/inception_fid.npz (user-expanded)."""
    return os.path.expanduser(os.environ.get(ENV_VAR) or DEFAULT_PATH)


def missing_weights_message(path: str) -> str:
    return (f'InceptionV3-FID weights not found at {path}.\n'
            f'This library never downloads weights. To make the file:\n'
            f'  1. get pytorch-fid\'s {TORCH_WEIGHTS_FILE} (published at {TORCH_WEIGHTS_URL}),\n'
            f'  2. run: python {CONVERT_SCRIPT} /path/to/{TORCH_WEIGHTS_FILE} {path}\n'
            f'     (needs torch, for reading the .pth only).\n'
            f'load_params() reads ${ENV_VAR} if set, else {os.path.expanduser(DEFAULT_PATH)}.')


@functools.lru_cache(maxsize=1)
def expected_shapes() -> dict[str, tuple[int, ...]]:
    """Flat key -> shape of every variable of `InceptionV3FID` (traced, not computed)."""
    from gans.metrics import inception  # Imported here: `inception` re-exports load/save from this module.
    shapes = jax.eval_shape(inception.init_variables, jax.random.key(0))
    return {key: tuple(leaf.shape) for key, leaf in traverse_util.flatten_dict(shapes, sep=_SEP).items()}


def _describe(keys: set[str] | list[str], limit: int = 5) -> str:
    keys = sorted(keys)
    more = f' ... and {len(keys) - limit} more' if len(keys) > limit else ''
    return ', '.join(keys[:limit]) + more


def check_flat_variables(flat: Mapping[str, Any], source: str) -> None:
    """Raises ValueError unless `flat` has exactly the model's keys, each of the model's shape."""
    expected = expected_shapes()
    problems = []
    if missing := set(expected) - set(flat):
        problems.append(f'{len(missing)} missing: {_describe(missing)}')
    if unexpected := set(flat) - set(expected):
        problems.append(f'{len(unexpected)} unexpected: {_describe(unexpected)}')
    wrong = [f'{k} {tuple(np.shape(flat[k]))} != {expected[k]}' for k in sorted(set(flat) & set(expected))
             if tuple(np.shape(flat[k])) != expected[k]]
    if wrong:
        problems.append(f'{len(wrong)} of the wrong shape: {_describe(wrong)}')
    if problems:
        raise ValueError(f'{source} does not match InceptionV3FID: ' + '; '.join(problems))


def flatten(variables: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Nested variables -> {'params/Mixed_5b/.../kernel': float32 numpy array}, the file's keys."""
    flat = traverse_util.flatten_dict(dict(variables), sep=_SEP)
    return {key: np.asarray(value, np.float32) for key, value in flat.items()}


def save_params(variables: Mapping[str, Any], path: str) -> None:
    """Writes `variables` ({'params', 'batch_stats'}) as a version-1 weight file at `path`."""
    arrays = flatten(variables)
    check_flat_variables(arrays, 'variables to save')
    path = os.path.expanduser(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    partial = f'{path}.partial'
    # Written through a handle (np.savez would append '.npz' to a bare name), then moved into
    # place, so a crash never leaves a truncated file where load_params would look.
    with open(partial, 'wb') as f:
        np.savez(f, __format__=np.array(FORMAT_NAME), __version__=np.array(FORMAT_VERSION), **arrays)
    os.replace(partial, path)


def load_params(path: str | None = None) -> dict[str, Any]:
    """Variables ({'params', 'batch_stats'}) of `InceptionV3FID` from a weight file.

    `path` defaults to `default_path()`. A missing file raises FileNotFoundError saying how to
    make it; a file of another format, version or architecture raises ValueError.
    """
    path = os.path.expanduser(path) if path is not None else default_path()
    if not os.path.isfile(path):
        raise FileNotFoundError(missing_weights_message(path))
    try:
        with np.load(path, allow_pickle=False) as contents:
            flat = {key: contents[key] for key in contents.files}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise ValueError(f'{path} is not a readable .npz weight file: {error}') from error
    file_format = str(flat.pop('__format__', ''))
    version = int(flat.pop('__version__', -1))
    if file_format != FORMAT_NAME:
        raise ValueError(f'{path} is not an InceptionV3-FID weight file (format {file_format!r}, '
                         f'expected {FORMAT_NAME!r}); make one with {CONVERT_SCRIPT}')
    if version != FORMAT_VERSION:
        raise ValueError(f'{path} has weight-file version {version}; this library reads version {FORMAT_VERSION}')
    check_flat_variables(flat, path)
    return jax.tree.map(jnp.asarray, traverse_util.unflatten_dict(flat, sep=_SEP))


def torch_name(flax_key: str) -> tuple[str, tuple[int, ...] | None]:
    """(pytorch-fid state_dict key, axes that transpose its tensor into Flax layout, or None)."""
    collection, *modules, leaf = flax_key.split(_SEP)
    module = '.'.join(modules)
    if modules == ['fc']:
        if collection == 'params' and leaf in ('kernel', 'bias'):
            return ('fc.weight', (1, 0)) if leaf == 'kernel' else ('fc.bias', None)
    elif modules and modules[-1] == 'conv':
        if (collection, leaf) == ('params', 'kernel'):
            return f'{module}.weight', (2, 3, 1, 0)  # torch [out, in, kh, kw] -> [kh, kw, in, out]
    elif modules and modules[-1] == 'bn' and (collection, leaf) in _BATCH_NORM_NAMES:
        return f'{module}.{_BATCH_NORM_NAMES[collection, leaf]}', None
    raise KeyError(f'no pytorch-fid name for Flax variable {flax_key}')


def convert_torch_state_dict(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """pytorch-fid's FID InceptionV3 state_dict (tensors as numpy arrays) -> Flax variables.

    Every model variable must come from exactly one tensor, and every tensor but the
    `num_batches_tracked` counters must be used; anything else raises ValueError.
    """
    flat, used, missing, wrong = {}, set(), [], []
    for flax_key, shape in expected_shapes().items():
        name, axes = torch_name(flax_key)
        if name in used:
            raise ValueError(f'two Flax variables map to the torch tensor {name}')
        used.add(name)
        if name not in state_dict:
            missing.append(name)
            continue
        array = np.asarray(state_dict[name], np.float32)
        if axes is not None and array.ndim == len(axes):
            array = array.transpose(axes)
        if array.shape != shape:
            wrong.append(f'{name} {tuple(np.shape(state_dict[name]))} (for {flax_key} {shape})')
            continue
        flat[flax_key] = np.ascontiguousarray(array)
    unused = {k for k in state_dict if k not in used and not k.endswith(_TORCH_IGNORED_SUFFIX)}
    problems = []
    if missing:
        problems.append(f'{len(missing)} tensors missing: {_describe(missing)}')
    if wrong:
        problems.append(f'{len(wrong)} of the wrong shape: {_describe(wrong)}')
    if unused:
        problems.append(f'{len(unused)} tensors not in the FID network: {_describe(unused)}')
    if problems:
        raise ValueError(f'state_dict is not pytorch-fid\'s FID InceptionV3 ({TORCH_WEIGHTS_FILE}): '
                         + '; '.join(problems))
    return traverse_util.unflatten_dict(flat, sep=_SEP)
