"""One training process per workdir: an advisory lock on `<workdir>/train.lock`.

`flock` locks belong to the open file, so the OS releases one when its process ends, however it
ends: a crashed or killed run never leaves a stale lock, and the file itself (which names the
holder's process id and host, for the message a second run prints) may stay. Only `gans train`
locks; the read-only commands (`sample`, `evaluate`, ...) read a workdir beside a running
training. A multi-process run is locked once, by process 0 (gans.engine.loop).

Standard library only, so that `gans train` can refuse a locked workdir before importing jax.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator

LOCK_FILENAME = 'train.lock'

# Locks this process holds, by path, with how many callers hold each: the CLI locks before it
# imports the engine, and the loop's own lock of the same workdir is then a no-op.
_HELD: dict[str, list] = {}


class WorkdirLockedError(RuntimeError):
    """Another process is training in this workdir."""


def lock_path(workdir: str) -> str:
    return os.path.join(os.path.abspath(workdir), LOCK_FILENAME)


def acquire(workdir: str) -> str:
    """Takes the workdir's lock (non-blocking) and returns its path; raises WorkdirLockedError
    naming the holder when another process has it."""
    path = lock_path(workdir)
    if path in _HELD:
        _HELD[path][1] += 1
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_holder(fd)
        os.close(fd)
        raise WorkdirLockedError(
            f'{os.path.dirname(path)} is in use by another training run ({holder}); a second `gans train` on '
            f'one workdir would log every step twice and write checkpoints over the first. Nothing was '
            f'changed. Wait for it to finish, stop it, or use another --workdir') from None
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({'pid': os.getpid(), 'host': socket.gethostname(),
                             'since': time.strftime('%Y-%m-%d %H:%M:%S %Z')}).encode())
    os.fsync(fd)
    _HELD[path] = [fd, 1]
    return path


def release(path: str) -> None:
    """Gives back one hold of the lock at `path`; the last one unlocks it."""
    held = _HELD.get(path)
    if held is None:
        return
    held[1] -= 1
    if held[1] == 0:
        del _HELD[path]
        fcntl.flock(held[0], fcntl.LOCK_UN)
        os.close(held[0])


def remove_empty(workdir: str) -> None:
    """Removes a workdir that holds nothing but its (released) lock file."""
    if os.path.isdir(workdir) and os.listdir(workdir) in ([], [LOCK_FILENAME]):
        with contextlib.suppress(FileNotFoundError):
            os.remove(lock_path(workdir))
        os.rmdir(workdir)


@contextlib.contextmanager
def locked(workdir: str) -> Iterator[str]:
    path = acquire(workdir)
    try:
        yield path
    finally:
        release(path)


def _read_holder(fd: int) -> str:
    try:
        holder = json.loads(os.pread(fd, 4096, 0).decode() or '{}')
    except (OSError, ValueError):
        holder = {}
    if 'pid' not in holder:
        return 'its holder has not written its name yet'
    return f'process {holder["pid"]} on host {holder.get("host", "?")}, since {holder.get("since", "?")}'
