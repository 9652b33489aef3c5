"""Device mesh and shardings: the batch is split over the `data` axis, parameters are replicated.

The same jitted step runs on 1 or N devices; only the shardings of its inputs change. In a
multi-host run every process passes its own slice of the batch and
`jax.make_array_from_process_local_data` stitches them into one global array.
"""
from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = 'data'


def make_mesh(num_devices: int | None = None) -> Mesh:
    """A 1-D mesh over the first `num_devices` devices (all of them when None or 0)."""
    devices = jax.devices()
    if num_devices:
        if num_devices > len(devices):
            raise ValueError(f'asked for {num_devices} devices, only {len(devices)} are visible')
        devices = devices[:num_devices]
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def check_divisible(global_batch_size: int, mesh: Mesh) -> None:
    if global_batch_size % mesh.size:
        raise ValueError(f'global batch size {global_batch_size} is not divisible by the {mesh.size} devices '
                         f'of the mesh')


def global_batch(local_batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Builds the global, data-sharded batch from this process's slice of it."""
    sharding = batch_sharding(mesh)
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), local_batch)


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Places every leaf (params, optimizer state, keys) on all devices of the mesh.

    In a multi-process run every process must pass the same values; each one supplies the
    copies on its own devices (device_put cannot reach another process's devices).
    """
    sharding = replicated(mesh)
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)

    def put(x):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.random.wrap_key_data(put(jax.random.key_data(x)), impl=jax.random.key_impl(x))
        return jax.make_array_from_process_local_data(sharding, np.asarray(x))
    return jax.tree.map(put, tree)
