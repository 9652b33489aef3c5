"""Turning SIGTERM and SIGINT into "stop after this step" that every process agrees on.

Schedulers preempt with SIGTERM (then SIGKILL after a grace period), and people press Ctrl-C.
Either way the loop should finish the step in flight, save a checkpoint at it and return.

One process: a Python handler records the signal; the loop asks `should_stop(step)` after each
step. A second SIGINT raises KeyboardInterrupt as usual, for when saving itself hangs.

Several processes (jax.distributed): they must stop at the *same* step, or the ones still
training would wait forever in a collective for the ones saving. JAX's preemption service does
this: it catches SIGTERM in whichever process receives it, tells the others through the
coordinator, and `reached_preemption_sync_point(step)` becomes true on all processes at one
agreed step. SIGINT is forwarded to it as a SIGTERM to the same process.
"""
from __future__ import annotations

import signal
import threading

import jax


class StopSignal:
    """Context manager: installs the handlers on entry and puts the previous ones back on exit."""

    def __init__(self):
        self.received: str | None = None  # name of the signal this process got
        self._previous: dict[int, object] = {}
        self._multiprocess = False

    def __enter__(self) -> StopSignal:
        self._multiprocess = jax.process_count() > 1
        if threading.current_thread() is not threading.main_thread():
            return self  # Python delivers signals to the main thread only; leave them alone
        wanted = [signal.SIGINT] if self._multiprocess else [signal.SIGINT, signal.SIGTERM]
        for signum in wanted:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def should_stop(self, step: int) -> bool:
        """Called after every step (with the same steps on every process)."""
        if self._multiprocess:
            from jax.experimental import multihost_utils
            return multihost_utils.reached_preemption_sync_point(step)
        return self.received is not None

    def describe(self) -> str:
        """What stopped the run, for the message; in a multi-process run SIGTERM is seen by JAX, not us."""
        return self.received or 'SIGTERM (a preemption notice to one of the processes)'

    def _handle(self, signum, frame) -> None:
        if signum == signal.SIGINT and self.received == 'SIGINT':
            raise KeyboardInterrupt  # second Ctrl-C: give up on the clean stop
        self.received = signal.Signals(signum).name
        if self._multiprocess:
            # JAX's preemption notifier listens for SIGTERM: let it tell the other processes.
            signal.raise_signal(signal.SIGTERM)
