"""Without services: which paths a file connection refuses (engine.sources.files.paths), which
folders a listing walks into (globs.may_match_below), and when a listed file counts as held
by a table (engine.sources.files.versions, the file strategies' selection)."""

from __future__ import annotations

import datetime as dt

import pytest

from etl_bigquery.engine.file_strategies import FileCatalog, FileTransactional
from etl_bigquery.engine.sources.files.globs import may_match_below
from etl_bigquery.engine.sources.files.paths import key_problem, path_problem
from etl_bigquery.engine.sources.files.store import StoredFile
from etl_bigquery.engine.sources.files.versions import check_held, with_version

T0 = dt.datetime(2026, 11, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "value", ["", "exports/", "exports/2026-", "*.csv", "**/*.parquet", "a b%20c/", ".hidden/x"]
)
def test_paths_that_stay_inside(value: str) -> None:
    assert path_problem(value) is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("../etc/", "'..' segment"),
        ("a/../../b", "'..' segment"),
        ("./a", "'.' segment"),
        ("/etc/", "absolute"),
        ("a\\..\\b", "backslash"),
        ("%2e%2e/etc/", "percent-encoding"),
        ("%2E%2e/", "percent-encoding"),
        ("%252e%252e/", "percent-encoding"),
        ("..%2fetc", "percent-encoding"),
        ("%2fetc/", "percent-encoding"),
        ("a%5c..%5cb", "percent-encoding"),
        ("a\x00b", "control character"),
    ],
)
def test_paths_that_could_leave_the_root(value: str, problem: str) -> None:
    assert problem in (path_problem(value) or ""), value


def test_object_keys_with_dot_segments_cannot_be_read_safely() -> None:
    assert key_problem("in/a.csv") is None and key_problem("in/..a.csv") is None
    assert key_problem("../secret/pw.csv") and key_problem("in/./a.csv")


@pytest.mark.parametrize(
    ("folder", "glob", "descend"),
    [
        (("sub",), "*.csv", False),
        (("sub",), "**/*.csv", True),
        (("2026-01",), "2026-*/*.csv", True),
        (("2025-01",), "2026-*/*.csv", False),
        (("2026-01", "deeper"), "2026-*/*.csv", False),
        (("a", "b", "c"), "a/**/x.csv", True),
        (("x",), "**", True),
    ],
)
def test_a_listing_walks_only_into_folders_the_glob_can_reach(folder, glob, descend) -> None:
    assert may_match_below(folder, glob) is descend


def _file(name: str = "a.csv", size: int = 10, modified: dt.datetime = T0, checksum=None):
    return StoredFile(f"/d/{name}", f"file:///d/{name}", name, size, modified, checksum)


def _never(file: StoredFile) -> str:
    raise AssertionError(f"{file.name} was read to hash it")


class Hashes:
    def __init__(self, digest: str) -> None:
        self.digest, self.calls = digest, 0

    def __call__(self, file: StoredFile) -> str:
        self.calls += 1
        return self.digest


def test_the_legacy_version_of_earlier_releases_counts_as_held_without_reading() -> None:
    file = _file()
    assert check_held(file, {file.legacy_version}, _never)[1]
    stored = _file(checksum="md5:AAAA")
    assert check_held(stored, {stored.legacy_version}, _never)[1]


def test_a_computed_hash_is_reused_while_size_and_time_did_not_move() -> None:
    held = {f"sha256:{'ab' * 32}|{_file().legacy_version}"}
    file, same = check_held(_file(), held, _never)
    assert same and file.checksum == f"sha256:{'ab' * 32}"


def test_a_touched_file_is_hashed_and_held_when_its_bytes_are_the_same() -> None:
    held = {f"sha256:{'ab' * 32}|{_file().legacy_version}"}
    touched = _file(modified=T0 + dt.timedelta(seconds=5))
    hashes = Hashes("ab" * 32)
    _, same = check_held(touched, held, hashes)
    assert same and hashes.calls == 1
    changed, same = check_held(touched, held, Hashes("cd" * 32))
    assert not same and changed.version == f"sha256:{'cd' * 32}|{touched.legacy_version}"


def test_the_stores_checksum_decides_and_a_computed_hash_still_matches() -> None:
    assert check_held(_file(checksum="etag:1"), {"etag:1"}, _never)[1]
    assert not check_held(_file(checksum="etag:2"), {"etag:1"}, _never)[1]
    # a blob hashed here before (uploaded in blocks), now uploaded with the store's MD5
    held = {f"sha256:{'ab' * 32}|{_file(modified=T0 - dt.timedelta(days=1)).legacy_version}"}
    file, same = check_held(_file(checksum="md5:xyz"), held, Hashes("ab" * 32))
    assert same and file.version == "md5:xyz"


def test_files_to_read_get_a_content_version() -> None:
    assert with_version(_file(checksum="md5:q"), set(), _never).version == "md5:q"
    assert with_version(_file(), set(), Hashes("ef" * 32)).checksum == f"sha256:{'ef' * 32}"


def test_transactional_reads_new_and_changed_files_and_replaces_only_the_changed() -> None:
    a, b, c = _file("a.csv", checksum="md5:a2"), _file("b.csv", checksum="md5:b"), _file("c.csv")
    held = {a.uri: {"md5:a1"}, b.uri: {"md5:b"}}
    files, replaced = FileTransactional().select([a, b, c], held, Hashes("00" * 32))
    assert [f.name for f in files] == ["a.csv", "c.csv"] and replaced == [a.uri]
    assert files[1].checksum == f"sha256:{'00' * 32}"


def test_catalog_reloads_all_files_only_when_one_changed_or_the_set_moved() -> None:
    a, b = _file("a.csv", checksum="md5:a"), _file("b.csv", checksum="md5:b")
    held = {a.uri: {"md5:a"}, b.uri: {b.legacy_version}}
    assert FileCatalog().select([a, b], held, _never) == ([], [])
    assert [f.name for f in FileCatalog().select([a], held, _never)[0]] == ["a.csv"]
    changed = _file("b.csv", modified=T0 + dt.timedelta(seconds=1), checksum="md5:B")
    files, replaced = FileCatalog().select([a, changed], held, _never)
    assert [f.version for f in files] == ["md5:a", "md5:B"] and replaced == []
