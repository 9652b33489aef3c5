"""What a checkpoint held when it was saved: a digest of every array and of the data position.

orbax finalises a checkpoint atomically, so an interrupted save is never mistaken for a complete
one; but bytes damaged *after* the commit (a bad disk, a truncated copy, a flipped byte) restore
without complaint. Each save therefore records, beside the state, a `Record`:

  arrays[name] = SHA-256(dtype || shape || bytes of the array)      for every leaf of the state
  data         = SHA-256(canonical JSON of the data iterator's state)
  finite       = every floating-point array is free of NaN and Inf

and a restore recomputes the digests of what it read and compares. Once orbax has committed the
checkpoint, the bytes of each of its files are digested too (`FILES_DIGEST`, written beside
them), so that a damaged byte is found even where it is not part of an array a restore decodes
(orbax's files also hold index nodes and bytes a restore skips), and before orbax parses it.
A checkpoint killed between commit and that record is verified by its arrays alone. SHA-256 runs at about a
gigabyte a second on one core (hashlib uses the CPU's SHA instructions), so the cost is a host
copy and a pass over the state per save; `experiments/bench/checkpoint_digest.py` measures it.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import jax
import numpy as np

VERSION = 1
FILES_DIGEST = 'gans_files.sha256.json'  # in the step's directory, beside orbax's items


class CheckpointIntegrityError(ValueError):
    """A complete checkpoint whose contents differ from what was saved (or cannot be read)."""


class NonFiniteStateError(FloatingPointError):
    """A state with NaN or Inf arrays, which is not saved."""


def host_arrays(tree: Any) -> dict[str, np.ndarray]:
    """Every leaf of `tree` as a NumPy array, by dotted path. The state is replicated, so a
    process's first shard is the whole array, in multi-process runs too."""
    leaves = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
            if not leaf.is_fully_replicated:
                from jax.experimental import multihost_utils
                leaf = multihost_utils.process_allgather(leaf, tiled=True)
            else:
                leaf = leaf.addressable_data(0)
        leaves[name_of(path)] = np.asarray(leaf)
    return leaves


def name_of(path) -> str:
    return '.'.join(str(getattr(k, 'key', getattr(k, 'idx', k))) for k in path)


def array_digest(array: np.ndarray) -> str:
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f'{array.dtype.str}{array.shape}'.encode())
    digest.update(memoryview(array).cast('B') if array.size else b'')
    return digest.hexdigest()


def data_digest(data_state: Any) -> str:
    return hashlib.sha256(json.dumps(data_state, sort_keys=True, default=_json_default).encode()).hexdigest()


def _json_default(value):
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f'{type(value).__name__} in the data state is not JSON')


def non_finite(arrays: dict[str, np.ndarray]) -> list[str]:
    """Names of the floating-point arrays holding a NaN or an Inf."""
    return sorted(name for name, a in arrays.items()
                  if np.issubdtype(a.dtype, np.inexact) and not np.isfinite(a).all())


def record(state_dict: Any, data_state: Any) -> dict[str, Any]:
    """The JSON record saved beside a checkpoint: per-array digests, the data digest, finiteness."""
    arrays = host_arrays(state_dict)
    bad = non_finite(arrays)
    return {'version': VERSION, 'arrays': {name: array_digest(a) for name, a in arrays.items()},
            'data': data_digest(data_state), 'finite': not bad, 'non_finite': bad[:20]}


def verify(saved: dict[str, Any], state_dict: Any, data_state: Any, where: str) -> None:
    """Raises CheckpointIntegrityError naming what differs between `saved` and what was restored."""
    if saved.get('version') != VERSION:
        raise CheckpointIntegrityError(f'{where}: its digest record has version {saved.get("version")!r}, '
                                       f'this version of gans writes {VERSION}')
    arrays = {name: array_digest(a) for name, a in host_arrays(state_dict).items()}
    expected = saved['arrays']
    problems = []
    differ = sorted(name for name in arrays.keys() & expected.keys() if arrays[name] != expected[name])
    if differ:
        problems.append(f'{len(differ)} of {len(expected)} arrays differ from what was saved '
                        f'({", ".join(differ[:5])}{", ..." if len(differ) > 5 else ""})')
    if arrays.keys() != expected.keys():
        problems.append(f'arrays {sorted(arrays.keys() ^ expected.keys())[:5]} are in only one of the '
                        f'checkpoint and its digest record')
    if data_digest(data_state) != saved['data']:
        problems.append('the data-iterator state differs from what was saved')
    if problems:
        raise CheckpointIntegrityError(f'{where} fails verification: {"; ".join(problems)}')


def _file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def _files(directory: str) -> list[str]:
    found = []
    for root, _, names in os.walk(directory):
        found += [os.path.relpath(os.path.join(root, n), directory) for n in names]
    return sorted(f for f in found if f != FILES_DIGEST)


def write_file_digests(directory: str) -> None:
    """Writes {relative path: SHA-256} of every file under a committed checkpoint `directory`."""
    digests = {name: _file_digest(os.path.join(directory, name)) for name in _files(directory)}
    temporary = os.path.join(directory, FILES_DIGEST + '.tmp')
    with open(temporary, 'w') as f:
        json.dump(digests, f)
    os.replace(temporary, os.path.join(directory, FILES_DIGEST))


def verify_files(directory: str, where: str) -> None:
    """Raises CheckpointIntegrityError naming the files whose bytes changed or went missing since
    `write_file_digests`; does nothing for a checkpoint without the record."""
    path = os.path.join(directory, FILES_DIGEST)
    if not os.path.isfile(path):
        return
    try:
        with open(path) as f:
            saved = json.load(f)
    except ValueError as error:
        raise CheckpointIntegrityError(f'{where} fails verification: its {FILES_DIGEST} is damaged ({error})') from None
    missing = sorted(n for n in saved if not os.path.isfile(os.path.join(directory, n)))
    changed = sorted(n for n in saved if n not in missing and _file_digest(os.path.join(directory, n)) != saved[n])
    if missing or changed:
        named = [f'{n} (changed)' for n in changed] + [f'{n} (missing)' for n in missing]
        raise CheckpointIntegrityError(f'{where} fails verification: {len(named)} of its {len(saved)} files differ '
                                       f'from what was committed: {", ".join(named[:5])}')
