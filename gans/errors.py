"""Which exceptions are a user's to fix: the command line prints them as one line, no traceback.

A user error (status 2) is a mistake in what was asked: an unknown command, flag, config, field,
model, game, loss or dataset; a bad value; a file or workdir that is missing or of the wrong
kind; a checkpoint of another config; a workdir in use. A run error (status 1) is a run that was
stopped for a reason its message gives (a NaN loss, a failed save). Anything else is a bug and
keeps its traceback.
"""
from __future__ import annotations


def user_errors() -> tuple[type[BaseException], ...]:
    from absl import app, flags
    from gans.engine.workdir_lock import WorkdirLockedError
    # ValueError covers the library's refusals (ConfigChangedError, CheckpointMismatchError,
    # CheckpointIntegrityError, unknown names); FileNotFoundError covers unprepared datasets.
    return (app.UsageError, flags.Error, ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError,
            PermissionError, WorkdirLockedError)


def run_errors() -> tuple[type[BaseException], ...]:
    from gans.engine.checkpoint import CheckpointSaveError
    from gans.engine.loop import NonFiniteLossError
    return NonFiniteLossError, CheckpointSaveError


def message(error: BaseException) -> str:
    """The error's own words (its class name when it has none)."""
    return (str(error) or type(error).__name__).strip()
