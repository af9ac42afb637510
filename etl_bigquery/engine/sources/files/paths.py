"""Paths stay under their connection's root.

A job is a flow parameter, so whoever may start a run in the Prefect UI chooses its `prefix`
and `glob`; a file connection must therefore never read anything outside its folder, bucket or
container, whatever a job, a command line or the console asks. Three layers:

1. **What a user writes** (a job's `prefix` and `glob`, a connection's `prefix`, a file name
   given to `etl connection detect`) is refused with one sentence when it is absolute, has a
   `.` or `..` segment, a backslash or a control character, or hides one of those behind
   percent-encoding (`%2e%2e/`, `%252e%252e/`): `path_problem`.
2. **Every listed or opened path** is checked again where the store is reached
   (`engine.sources.files.store`): local paths are resolved (symbolic links followed) and must
   stay under the resolved root (`inside_folder`); object keys must start with the root's key
   prefix and hold no `.` or `..` segment (`key_problem`): Arrow's object-store clients resolve
   `drop/../secret.csv` to `secret.csv`, so an object literally named so would make a job read
   another object than the one listed.
3. Listing walks only below the root (`engine.sources.files.listing_local`).
"""

from __future__ import annotations

import os
import unicodedata
from urllib.parse import unquote

FIX = (
    "a job reads only under its connection's folder or bucket: write the path relative to it "
    "(e.g. exports/2026/)"
)


def _segments_problem(value: str) -> str | None:
    if value.startswith("/"):
        return "is absolute"
    segments = value.split("/")
    if ".." in segments:
        return "has a '..' segment"
    if "." in segments:
        return "has a '.' segment"
    return None


def path_problem(value: str) -> str | None:
    """Why `value` (a prefix, glob or file name relative to a connection's root) could name
    something outside it, as a phrase ("has a '..' segment"); None when it cannot."""
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        return "holds a control character"
    if "\\" in value:
        return "holds a backslash (paths use '/')"
    plain = _segments_problem(value)
    if plain:
        return plain
    decoded = value
    for _ in range(3):  # %252e%252e is %2e%2e once decoded, '..' twice
        once = unquote(decoded)
        if once == decoded:
            break
        decoded = once
        if "\\" in decoded or _segments_problem(decoded) or "\x00" in decoded:
            return "hides '..', '.', '\\' or a leading '/' behind percent-encoding (e.g. %2e%2e)"
    return None


def refusal(what: str, value: str, problem: str) -> str:
    """The sentence of a refused path."""
    return f"{what} {value!r} {problem}; {FIX}."


def key_problem(name: str) -> str | None:
    """Why an object's name (relative to the root) cannot be read safely; None when it can."""
    segments = name.split("/")
    if ".." in segments or "." in segments:
        return "has a '.' or '..' segment, which object-store clients resolve to another object"
    return None


def inside_folder(real_root: str, path: str) -> bool:
    """Whether `path`, with every symbolic link resolved, is `real_root` or below it."""
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip("/") + "/")


def under_root(root: str, path: str) -> bool:
    """Whether the object path `path` (bucket/key) is below the root `root` (bucket/prefix)."""
    return path.startswith(root.rstrip("/") + "/") and key_problem(path[len(root) :]) is None
