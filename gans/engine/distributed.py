"""Joining a multi-process run: `jax.distributed.initialize` from environment variables.

Called once by `gans train` before any computation. Which processes form the run is read from
the environment, so every launcher (launch/local.sh, SLURM, Cloud TPU pods) runs the same
command in every process:

  GANS_NUM_PROCESSES, GANS_PROCESS_ID, GANS_COORDINATOR_ADDRESS (host:port of process 0)
      an explicit run (launch/local.sh sets them);
  GANS_DISTRIBUTED=auto
      let JAX detect the cluster (SLURM, Cloud TPU, MPI, ...) and initialise from it;
  neither: one process, nothing to do.

A process that dies (SIGKILL, a lost host) stops sending heartbeats to the coordination service;
after GANS_HEARTBEAT_TIMEOUT seconds (60 by default) the service marks it unhealthy and every
other process terminates with "The following tasks are unhealthy (stopped sending heartbeats):
<process ids>" rather than waiting in a collective forever; if process 0 (the coordinator) is the
one lost, the others stop at once, unable to reach it. Rerunning the launch resumes from the last
complete checkpoint.

After initialisation `jax.devices()` lists every process's devices, so the mesh spans all of
them, and `jax.process_index()` picks each process's slice of the data.
"""
from __future__ import annotations

import os

NUM_PROCESSES = 'GANS_NUM_PROCESSES'
PROCESS_ID = 'GANS_PROCESS_ID'
COORDINATOR = 'GANS_COORDINATOR_ADDRESS'
AUTO = 'GANS_DISTRIBUTED'
# How long process 0 waits for the others to join, in seconds.
INIT_TIMEOUT = 'GANS_DISTRIBUTED_TIMEOUT'
# Seconds without a heartbeat after which a process counts as lost and the others stop.
HEARTBEAT_TIMEOUT = 'GANS_HEARTBEAT_TIMEOUT'


def initialize_from_env(environ: dict[str, str] | None = None) -> bool:
    """Initialises `jax.distributed` as the environment asks; True when this is a multi-process run."""
    import jax

    env = os.environ if environ is None else environ
    timeout, heartbeat = _seconds(env, INIT_TIMEOUT, 300), _seconds(env, HEARTBEAT_TIMEOUT, 60)
    if env.get(NUM_PROCESSES):
        coordinator, num, pid = _explicit(env)
        if num == 1:
            return False
        jax.distributed.initialize(coordinator_address=coordinator, num_processes=num, process_id=pid,
                                   initialization_timeout=timeout, heartbeat_timeout_seconds=heartbeat)
        return True
    mode = env.get(AUTO, '')
    if mode == 'auto':
        jax.distributed.initialize(initialization_timeout=timeout, heartbeat_timeout_seconds=heartbeat)
        return jax.process_count() > 1
    if mode:
        raise ValueError(f'{AUTO}={mode!r}: the only value is "auto" (or set {NUM_PROCESSES}, '
                         f'{PROCESS_ID} and {COORDINATOR})')
    return False


def _seconds(env, name: str, default: int) -> int:
    try:
        value = int(env.get(name) or default)
    except ValueError:
        raise ValueError(f'{name}={env[name]!r} must be a whole number of seconds') from None
    if value < 1:
        raise ValueError(f'{name}={value} must be at least 1 second')
    return value


def wants_multi_process(environ: dict[str, str] | None = None) -> bool:
    """Whether the environment asks for a multi-process run (without importing jax)."""
    env = os.environ if environ is None else environ
    return env.get(AUTO) == 'auto' or env.get(NUM_PROCESSES, '1') not in ('', '1')


def _explicit(env) -> tuple[str, int, int]:
    missing = [name for name in (PROCESS_ID, COORDINATOR) if not env.get(name)]
    if missing:
        raise ValueError(f'{NUM_PROCESSES} is set, so a multi-process run needs {" and ".join(missing)} too')
    try:
        num, pid = int(env[NUM_PROCESSES]), int(env[PROCESS_ID])
    except ValueError as error:
        raise ValueError(f'{NUM_PROCESSES} and {PROCESS_ID} must be integers: {error}') from None
    if num < 1 or not 0 <= pid < num:
        raise ValueError(f'{PROCESS_ID}={pid} is not in [0, {NUM_PROCESSES}={num})')
    if ':' not in env[COORDINATOR]:
        raise ValueError(f'{COORDINATOR}={env[COORDINATOR]!r} must be host:port')
    return env[COORDINATOR], num, pid
