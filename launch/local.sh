#!/usr/bin/env bash
# Runs `python -m gans <args>` as NUM_PROCESSES processes on this machine, each with
# DEVICES_PER_PROCESS simulated CPU devices, joined by jax.distributed through a coordinator on
# 127.0.0.1: a multi-host run in miniature, for tests and for trying the multi-host path.
#
#   NUM_PROCESSES=2 DEVICES_PER_PROCESS=2 launch/local.sh train --config CONFIG --workdir DIR
#
# Environment: NUM_PROCESSES (2), DEVICES_PER_PROCESS (1), COORDINATOR_PORT (a free one),
# PYTHON (python). Process 0 prints the progress and writes the logs. SIGTERM or SIGINT to this
# script is passed to every process (they stop at one agreed step with a checkpoint); if one
# process fails, the others are killed and the lost one is named. The exit code is the first
# failing process's, else 0. Without this script (a scheduler starting each process), a lost
# process is detected by jax.distributed's heartbeats: the others stop within
# GANS_HEARTBEAT_TIMEOUT seconds (60) naming the unhealthy task (gans.engine.distributed).
set -euo pipefail
((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] >= 501)) || { echo 'launch/local.sh needs bash >= 5.1' >&2; exit 2; }

NUM_PROCESSES=${NUM_PROCESSES:-2}
DEVICES_PER_PROCESS=${DEVICES_PER_PROCESS:-1}
PYTHON=${PYTHON:-python}
if [[ -z "${COORDINATOR_PORT:-}" ]]; then
  COORDINATOR_PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
# Run from anywhere: the package is found from the repository root.
export PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)${PYTHONPATH:+:$PYTHONPATH}"

pids=()
signalled=0
forward() { signalled=1; kill -s "$1" "${pids[@]}" 2>/dev/null || true; }
trap 'forward TERM' TERM
trap 'forward INT' INT

for ((i = 0; i < NUM_PROCESSES; i++)); do
  GANS_NUM_PROCESSES=$NUM_PROCESSES GANS_PROCESS_ID=$i GANS_COORDINATOR_ADDRESS=127.0.0.1:$COORDINATOR_PORT \
  JAX_PLATFORMS=cpu JAX_NUM_CPU_DEVICES=$DEVICES_PER_PROCESS \
    "$PYTHON" -m gans "$@" &
  pids+=($!)
done

status=0
while true; do
  signalled=0 ended=
  # Returns when a process ends (its pid in `ended`), when a trapped signal arrives, or when none is left.
  if wait -n -p ended; then code=0; else code=$?; fi
  ((signalled)) && continue
  [[ -z "${ended:-}" ]] && break
  if ((code != 0 && status == 0)); then
    status=$code
    for ((i = 0; i < NUM_PROCESSES; i++)); do [[ "${pids[i]}" == "$ended" ]] && lost=$i; done
    why="status $code"; ((code > 128)) && why="signal $((code - 128)) ($(kill -l $((code - 128)) 2>/dev/null || echo ?))"
    echo "launch/local.sh: process ${lost:-?} of $NUM_PROCESSES (pid $ended) ended with $why; killing the others." \
         "Run the same command again to resume from the last complete checkpoint" >&2
    kill -s KILL "${pids[@]}" 2>/dev/null || true
  fi
done
exit "$status"
