"""Unexpected exceptions and secrets never reach a log, a state message or an artifact.

Two guards:

- `redacted(stage)`, a decorator under each task's `@task(...)`. An exception that is not an
  `EtlError` (a library's, whose message could hold anything, even a connection string with its
  password) is replaced by `UnexpectedError`: "Unexpected KeyError during extraction." Prefect's
  task engine only ever sees the replacement, so the "Task run failed ..." log, its traceback and
  the task's state message carry no part of the original message. The replacement is raised
  outside the `except` block, with neither cause nor context, and its traceback holds only the
  wrapper's frame and Prefect's: no frame of the original and none of its locals. The original's
  frames (file, line, function; no message, no source text) are logged at ERROR by the task's
  logger, so where it happened is still told.
  `EtlError`s pass through unchanged (their messages are written for users, never hold secrets;
  their stage and `transient` flag drive the flow's retries), and so does `SlotLost`, whose
  message is ours. `UnexpectedError` is an `EtlError` that is never transient: an unexpected
  error is not retried, as before.
- secrets are masked in every log record by `engine.redaction` (the flow installs
  its filter).
"""

from __future__ import annotations

import functools
import logging
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from etl_bigquery.engine.errors import EtlError, Stage
from etl_bigquery.flows.locking import SlotLost

F = TypeVar("F", bound=Callable[..., Any])

FRAMES_LOGGED = 12

PASS_THROUGH: tuple[type[BaseException], ...] = (EtlError, SlotLost)


class UnexpectedError(EtlError):
    """An exception nobody expected, told by its type and stage only."""

    transient = False

    def __init__(self, error_type: str, stage: Stage) -> None:
        super().__init__(f"Unexpected {error_type} during {stage.value}.", stage=stage)
        self.error_type = error_type


def _logger() -> logging.Logger | logging.LoggerAdapter:
    from prefect import get_run_logger

    try:
        return get_run_logger()
    except Exception:  # outside a run (a direct call in a test): the module's logger
        return logging.getLogger(__name__)


def _where(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)[1:]  # [0] is the wrapper itself
    return "\n".join(
        f"  {frame.filename}:{frame.lineno} in {frame.name}" for frame in frames[-FRAMES_LOGGED:]
    )


def unexpected(error: Exception, stage: Stage) -> UnexpectedError:
    """The replacement for `error`; logs the original's frames (never its message)."""
    replacement = UnexpectedError(type(error).__name__, stage)
    _logger().error("%s Where it was raised:\n%s", replacement.message, _where(error))
    return replacement


def redacted(stage: Stage) -> Callable[[F], F]:
    """Make a task body raise only `EtlError`s (see the module docstring)."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except PASS_THROUGH:
                raise
            except Exception as error:
                replacement = unexpected(error, stage)
            # Raised here, outside the except block: no __context__ links to the original.
            raise replacement

        return wrapper  # type: ignore[return-value]

    return decorate
