"""Globs of file sources: `*` and `?` stay within one folder, `**` crosses folders (`**/` may
match none), `[abc]` is a character class. Matched against a file's name below the prefix's
folder (`prefix: exports/`, `glob: '*.csv'`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache


def glob_regex(pattern: str) -> re.Pattern[str]:
    """The whole-name regular expression of `pattern`."""
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\").replace("[", "\\[")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z")


def glob_escape(name: str) -> str:
    """A glob matching exactly `name`, whatever it holds: `*`, `?` and `[` as one-character
    classes (a file may be called 'orders [1].csv')."""
    return "".join(f"[{ch}]" if ch in "*?[" else ch for ch in name)


@lru_cache(maxsize=256)
def _segment(pattern: str) -> re.Pattern[str]:
    return glob_regex(pattern)


def may_match_below(folder: Sequence[str], pattern: str) -> bool:
    """Whether some file below the folder `folder` (its names, relative to where the glob
    starts) could match `pattern`: a listing need not walk into folders that cannot, and a
    folder that leaves the connection's root matters only when it could hold a match.
    Conservative: a segment holding `**` among other characters may span any folders."""
    segments = pattern.split("/")

    def could(parts: tuple[str, ...], index: int) -> bool:
        if not parts:
            return index < len(segments)  # a file below may still match what is left
        if index >= len(segments):
            return False
        segment = segments[index]
        if "**" in segment:
            return could(parts, index + 1) or could(parts[1:], index)
        return bool(_segment(segment).match(parts[0])) and could(parts[1:], index + 1)

    return could(tuple(folder), 0)
