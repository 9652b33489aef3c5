"""Per-program XLA compiler options: which library runs convolutions on CPU.

XLA:CPU (jax 0.10) hands convolutions to YNNPACK by default; Eigen's convolutions are its other
path. On this project's 2-core x86 VM, Eigen ran the train step of every shipped conv config
2-18% faster, and the 32 px DCGAN benchmark step at 1.03-1.21x PyTorch eager instead of
0.91-1.00x (experiments/results/bench_dcgan_step.md). Most of the difference is in kernel
gradients, which YNNPACK ran on one thread. The library's train steps therefore compile, on CPU,
with YNNPACK's convolutions off, through `jax.jit(..., compiler_options=...)`: per program, so the
rest of a user's process keeps XLA's defaults.
"""
from __future__ import annotations

import functools
import os
import warnings

import jax
import jax.numpy as jnp

CPU_CONVOLUTIONS = ('eigen', 'xla_default')

YNN_FUSION_OPTION = 'xla_cpu_experimental_ynn_fusion_type'
# jax 0.10's default YNNPACK set is {individual dots, individual convolutions, reductions}: this
# keeps the other two (the compiled program is then the same as with XLA_FLAGS'
# `--xla_cpu_experimental_ynn_fusion_type=-individual_convolution`).
WITHOUT_YNN_CONVOLUTIONS = 'LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE'


def compiler_options(cpu_convolutions: str, platform: str) -> dict[str, str] | None:
    """Options for `jax.jit(compiler_options=...)` of a program on `platform` devices; None: XLA's own.

    `cpu_convolutions` is 'eigen' (the default of every config) or 'xla_default'. A user who
    chose YNNPACK's fusions in XLA_FLAGS keeps them, and an XLA that no longer knows the option
    gets its defaults, with a warning.
    """
    if cpu_convolutions not in CPU_CONVOLUTIONS:
        raise ValueError(f'unknown cpu_convolutions {cpu_convolutions!r}; valid: {", ".join(CPU_CONVOLUTIONS)}')
    if platform != 'cpu' or cpu_convolutions == 'xla_default':
        return None
    if YNN_FUSION_OPTION in os.environ.get('XLA_FLAGS', ''):
        return None
    options = {YNN_FUSION_OPTION: WITHOUT_YNN_CONVOLUTIONS}
    return options if _cpu_compiler_accepts(tuple(options.items())) else None


@functools.cache
def _cpu_compiler_accepts(options: tuple[tuple[str, str], ...]) -> bool:
    """Whether this jax's CPU compiler takes `options`: one tiny compile, once per process."""
    program = jax.jit(lambda x: x + 1, compiler_options=dict(options))
    try:
        program.lower(jax.device_put(jnp.zeros(()), jax.devices('cpu')[0])).compile()
    except jax.errors.JaxRuntimeError as error:
        warnings.warn(f'XLA:CPU does not take the compiler options {dict(options)} ({error}); '
                      "compiling with XLA's defaults (slower convolutions on CPU)", RuntimeWarning, stacklevel=3)
        return False
    return True


def mesh_platform(mesh: jax.sharding.Mesh) -> str:
    """The platform of the mesh's devices ('cpu', 'gpu', 'tpu')."""
    return mesh.devices.flat[0].platform
