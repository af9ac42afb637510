"""How the command prints: plain aligned tables, and one-sentence errors with an exit code."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import NoReturn, TypeVar

import typer

from etl_bigquery.engine.errors import EtlError

T = TypeVar("T")

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn an `EtlError` into its sentence on stderr and a non-zero exit, without a traceback."""
    try:
        yield
    except EtlError as error:
        code = (
            EXIT_BAD_INPUT if error.stage.value == "init" and not error.transient else EXIT_FAILED
        )
        fail(error.message, code)


def table(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> str:
    text = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text:
        widths = [max(w, len(v)) for w, v in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in text
    ]
    return "\n".join(lines)


def quiet_call(function: Callable[[], T]) -> T:
    """Run `function` with stdout redirected to stderr (libraries that print would otherwise
    corrupt machine-readable output)."""
    stdout = sys.stdout
    sys.stdout = sys.stderr
    try:
        return function()
    finally:
        sys.stdout = stdout
