"""How fast the run-protecting refusals and stops are, measured from outside the processes.

    python experiments/reliability_timings.py [--lock_trials 5] [--heartbeats 10 60]

1. A second `gans train` on a workdir that a running `gans train` holds: seconds from starting
   the second process to its exit (status 2), over --lock_trials trials.
2. A two-process run started as a scheduler would (each process on its own, no launcher to kill
   the others) with GANS_HEARTBEAT_TIMEOUT=T for each T in --heartbeats: SIGKILL to process 1
   (and, at the first T, to process 0, the coordinator) once the run has a checkpoint; seconds
   until the survivor exits, its status, and the line in which it names the loss.

Prints one JSON line per measurement. Uses the tiny 2-D mixture config (fast to start).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = 'experiments/configs/mlp_ring8.py:tiny'
ENDLESS = ['--config.num_steps=1000000', '--config.checkpoint_every=2', '--config.log_every=1',
           '--config.sample_every=1000000']


def _train_command(workdir: str) -> list[str]:
    return [sys.executable, '-m', 'gans', 'train', f'--config={CONFIG}', f'--workdir={workdir}', *ENDLESS]


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


def lock_trials(trials: int, root: str) -> None:
    workdir = os.path.join(root, 'locked')
    first = subprocess.Popen(_train_command(workdir) + ['--config.num_devices=1'], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lock = os.path.join(workdir, 'train.lock')
    try:
        _wait_for(lambda: os.path.isfile(lock) and open(lock).read(), 120, 'the first run never locked')
        for trial in range(trials):
            start = time.monotonic()
            second = subprocess.run(_train_command(workdir), cwd=ROOT, capture_output=True, text=True)
            print(json.dumps({'measurement': 'second_train_refused', 'trial': trial, 'status': second.returncode,
                              'seconds': round(time.monotonic() - start, 3),
                              'message': second.stderr.strip().splitlines()[-1][:160]}), flush=True)
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=120)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def dead_process(heartbeat: int, victim: int, root: str) -> None:
    workdir = os.path.join(root, f'dead_{heartbeat}_{victim}')
    port = _free_port()
    processes = []
    for index in range(2):
        env = {**os.environ, 'GANS_NUM_PROCESSES': '2', 'GANS_PROCESS_ID': str(index),
               'GANS_COORDINATOR_ADDRESS': f'127.0.0.1:{port}', 'JAX_PLATFORMS': 'cpu', 'JAX_NUM_CPU_DEVICES': '1',
               'GANS_HEARTBEAT_TIMEOUT': str(heartbeat)}
        processes.append(subprocess.Popen(_train_command(workdir), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE, text=True))
    checkpoints = os.path.join(workdir, 'checkpoints')
    try:
        _wait_for(lambda: os.path.isdir(checkpoints) and any(n.isdigit() for n in os.listdir(checkpoints)),
                  240, 'no checkpoint')
        processes[victim].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        survivor = processes[1 - victim]
        _, err = survivor.communicate(timeout=heartbeat + 120)
        waited = time.monotonic() - killed
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    named = re.search(r'(The following tasks are unhealthy[^\n]*\n\S*|Task \d+ heartbeat timeout|'
                      r'Failed to send RPC to coordination service[^.]*\.[^.]*\.)', err)
    print(json.dumps({'measurement': 'survivor_stopped', 'heartbeat_timeout_s': heartbeat, 'killed_process': victim,
                      'seconds': round(waited, 2), 'status': survivor.returncode,
                      'message': named.group(0).replace('\n', ' ') if named else err.strip()[-300:]}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--lock_trials', type=int, default=5)
    parser.add_argument('--heartbeats', type=int, nargs='+', default=[10, 60])
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix='gans-reliability-')
    lock_trials(args.lock_trials, root)
    for i, heartbeat in enumerate(args.heartbeats):
        dead_process(heartbeat, 1, root)
        if i == 0:
            dead_process(heartbeat, 0, root)


if __name__ == '__main__':
    main()
