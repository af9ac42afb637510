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
- `register_secret(value)` and `install_log_redaction()`: every secret a run resolves is
  registered (`blocks.secrets`), with its URL-encoded forms; a filter on the handlers Prefect
  logs through (the API log handler, the console, any other installed) masks them in every
  record's message, arguments and traceback text. Defence in depth: nothing is meant to log a
  secret in the first place.
"""

from __future__ import annotations

import functools
import logging
import threading
import traceback
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

from etl.errors import EtlError, Stage
from flows.locking import SlotLost

F = TypeVar("F", bound=Callable[..., Any])

MASK = "***"
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary text everywhere
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


_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(value: str | None) -> str | None:
    """Mask `value` (and its URL-encoded forms) in every log record from now on; returns it."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        with _secrets_lock:
            _secrets.update({value, quote(value, safe=""), quote_plus(value)})
    return value


def registers_secret(fn: F) -> F:
    """Decorator: register whatever secret `fn` returns."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return register_secret(fn(*args, **kwargs))

    return wrapper  # type: ignore[return-value]


def mask(text: str) -> str:
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)  # longest first: encodings overlap
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


class SecretFilter(logging.Filter):
    """Masks registered secrets in a record, in place (so every later handler sees it masked)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: the handler reports it, without its args
            record.args = ()
            return True
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, ()
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            if mask(text) != text:  # keep the traceback, masked, as text
                record.msg, record.args = f"{record.getMessage()}\n{mask(text)}", ()
                record.exc_info, record.exc_text = None, None
        if record.exc_text and mask(record.exc_text) != record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True


_FILTER = SecretFilter()


def install_log_redaction() -> None:
    """Put the secret filter on every handler of the root logger and of every named logger
    (Prefect's API log handler and console included). Idempotent; cheap enough per run."""
    loggers: list[Any] = [logging.getLogger()]
    loggers += list(logging.Logger.manager.loggerDict.values())
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
