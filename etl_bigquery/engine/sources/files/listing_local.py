"""Listing a local folder, never leaving it.

The walk follows a symbolic link to a folder only while the link resolves inside the
connection's folder (and not to a folder it is already inside, so a link to `..` cannot loop);
a link to a folder outside is refused with a sentence when the glob could match a file below it,
and a link to a file outside is marked (`Listed.escapes`) so the store refuses it when the glob
matches it. Nothing outside the folder is listed, opened or shown. No checksum: a folder keeps
none (this tool computes a SHA-256 when it needs one).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from etl_bigquery.engine.errors import ValidationError
from etl_bigquery.engine.sources.files.listing import Descend, Listed, arrow_time
from etl_bigquery.engine.sources.files.paths import inside_folder

if TYPE_CHECKING:
    from etl_bigquery.engine.sources.files.store import StoreSettings


def link_refusal(settings: StoreSettings, path: str) -> ValidationError:
    """The sentence for a path that leaves the folder through a symbolic link, naming the
    first link on the way (not what lies beyond it)."""
    real_root = os.path.realpath(settings.root)
    parts = path[len(settings.root) :].strip("/").split("/")
    name = "/".join(parts)
    for end in range(1, len(parts) + 1):
        if not inside_folder(real_root, os.path.join(settings.root, *parts[:end])):
            name = "/".join(parts[:end])
            break
    return ValidationError(
        f"'{name}' in {settings.describe()} is a symbolic link to a place outside the "
        "connection's folder, and files are read only inside it; remove the link, copy the "
        "files into the folder, or make a connection to that place."
    )


class LocalLister:
    def __init__(self, settings: StoreSettings) -> None:
        self.settings = settings
        self.real_root = os.path.realpath(settings.root)

    def walk(self, base: str, descend: Descend) -> Iterator[Listed]:
        if not os.path.isdir(base):
            return
        real_base = os.path.realpath(base)
        if not inside_folder(self.real_root, real_base):
            raise link_refusal(self.settings, base)
        stack: list[tuple[str, tuple[str, ...], frozenset[str]]] = [
            (base, (), frozenset({real_base}))
        ]
        while stack:
            folder, parts, chain = stack.pop()
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=True):
                        below = (*parts, entry.name)
                        if not descend(below):
                            continue  # the glob cannot match anything there
                        real = os.path.realpath(entry.path)
                        if not inside_folder(self.real_root, real):
                            raise link_refusal(self.settings, entry.path)
                        if real not in chain:  # a link to a folder it is in would loop
                            stack.append((entry.path, below, chain | {real}))
                    elif entry.is_file(follow_symlinks=True):
                        stat = entry.stat(follow_symlinks=True)
                        escapes = entry.is_symlink() and not inside_folder(
                            self.real_root, entry.path
                        )
                        yield Listed(
                            entry.path, stat.st_size, arrow_time(stat.st_mtime_ns), None,
                            escapes=escapes,
                        )  # fmt: skip

    def stat(self, path: str) -> Listed | None:
        if not inside_folder(self.real_root, path):
            raise link_refusal(self.settings, path)
        try:
            stat = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not os.path.isfile(path):
            return None
        return Listed(path, stat.st_size, arrow_time(stat.st_mtime_ns), None)
