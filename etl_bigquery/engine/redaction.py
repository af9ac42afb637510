"""Secrets never reach a log: every secret a run resolves is registered here (`blocks.secrets`),
with its URL-encoded forms, and a filter on the handlers logs go through (Prefect's API log
handler, the console, any other installed) masks them in every record's message, arguments and
traceback text. Defence in depth: nothing is meant to log a secret in the first place.

Plain `logging`, no Prefect: the flows install the filter, and a Beam worker could too.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

F = TypeVar("F", bound=Callable[..., Any])

MASK = "***"
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary text everywhere

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
