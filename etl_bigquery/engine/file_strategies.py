"""Load strategies of file sources: the exactly-once protocol of `engine.incremental`, by file.

The destination table is the only state, as for tables. Every row a file job loads carries the
address of its file (`_etl_source_file`) and that file's version (`_etl_source_version`: the
store's checksum of the file's bytes, or a SHA-256 this tool computed; `StoredFile.version`). A
file is changed only when its bytes are (`engine.sources.files.versions`): a touch, a copy onto
itself or the same bytes uploaded again loads nothing. A run:

1. **Plans** from ONE query of the table (one query job sees one snapshot): per (file, version)
   the rows held, the row count, the snapshot's run id, and how many rows lack a file or version.
   Rows without them mean the table cannot say what it holds: the run fails (fail closed), it
   never reloads everything. The *state token* is a digest of that list; the job id is
   `etl_<job>_<hash(table, token)>_<attempt>`, so each state of the table has at most one
   successor change per attempt, whichever run submits it, whatever files it found. Jobs already
   submitted from that state are settled as for tables (`engine.incremental.settle`): one still
   running (left by a killed run) is waited for and planning starts over from the state it
   produced; one that failed has spent its id and the next attempt number is used.
   - transactional: new files (address not held) and changed ones (held under other versions)
     are read. Only new files: ONE load job appends them under the planned id. Some changed:
     their rows REPLACE the file's earlier rows in ONE MERGE under the planned id
     (`engine.bigquery.replace`), new files' rows arriving in the same statement;
   - catalog: when a listed file is changed or new, or a held file is gone, every matching file
     is read and replaces the table in one WRITE_TRUNCATE load; otherwise nothing is read.
   No file to read and none to replace → the run completes with 0 rows and submits nothing.
2. **Extracts** only those files, all into the staged files of ONE load (or MERGE).
3. **Loads** with the planned id (rejected rows first, as for tables). A crash anywhere: the
   re-run reads the table; if the killed run's job landed, its files are held and not read
   again; if it is still running it is waited for; if it never landed the files are read again
   and loaded under the same id (a run killed after it staged rows for a MERGE has spent that
   attempt: `engine.bigquery.replace`). A file version is never loaded twice and never
   skipped; every changed byte is seen and no file's rows exist twice after a change.

Limits: a file that yields no rows (empty, header only, or every row rejected) leaves no row to
record it, so it is read again on every run (its rejected rows are kept once: they are
fingerprinted). A file whose store keeps no checksum (a local folder; Azure blobs uploaded in
blocks) is read once to hash it whenever its size or last-modified moved.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import ClassVar

from google.cloud import bigquery

from etl_bigquery.engine.bigquery import replace
from etl_bigquery.engine.bigquery.tables import TableRef
from etl_bigquery.engine.conform import RUN_ID, TargetColumn
from etl_bigquery.engine.errors import EtlError, StateUnavailable, ValidationError
from etl_bigquery.engine.fingerprint import Identity
from etl_bigquery.engine.incremental import (
    IncrementPlan,
    StateKey,
    count_table_rows,
    settle,
    unreadable,
)
from etl_bigquery.engine.jobs.model import FilesSource, JobSpec, LoadType
from etl_bigquery.engine.plan import ColumnPlan
from etl_bigquery.engine.sources.abilities import ListsFiles
from etl_bigquery.engine.sources.base import SqlReader
from etl_bigquery.engine.sources.files.reader import FILE_COLUMN, VERSION_COLUMN
from etl_bigquery.engine.sources.files.store import StoredFile
from etl_bigquery.engine.sources.files.versions import Hasher, check_held, with_version
from etl_bigquery.engine.strategies import LoadStrategy, Planned


@dataclass(frozen=True)
class FileState:
    """What a file job's table holds, from one query."""

    held: dict[tuple[str, str], int]
    """(file address, version) → rows."""
    rows: int
    run: str | None

    def by_file(self) -> dict[str, set[str]]:
        """File address → the versions held of it."""
        found: dict[str, set[str]] = {}
        for file, version in self.held:
            found.setdefault(file, set()).add(version)
        return found

    def token(self, load_type: LoadType) -> str:
        listed = sorted([f, v, n] for (f, v), n in self.held.items())
        text = json.dumps([load_type.value, self.run, listed])
        return hashlib.sha256(text.encode()).hexdigest()


def read_file_state(
    client: bigquery.Client, ref: TableRef, *, location: str | None, has_run_id: bool
) -> FileState:
    file, version = f"`{FILE_COLUMN}`", f"`{VERSION_COLUMN}`"
    run = f"MAX(`{RUN_ID}`)" if has_run_id else "CAST(NULL AS STRING)"
    sql = f"""
        SELECT 'state' AS kind, CAST(NULL AS STRING) AS f, CAST(NULL AS STRING) AS v,
               COUNT(*) AS n, COUNTIF({file} IS NULL OR {version} IS NULL) AS untraced,
               {run} AS run
        FROM {ref.sql}
        UNION ALL
        SELECT 'file', {file}, {version}, COUNT(*), NULL, NULL
        FROM {ref.sql}
        WHERE {file} IS NOT NULL AND {version} IS NOT NULL
        GROUP BY {file}, {version}
    """
    try:
        result = client.query_and_wait(sql, location=location).to_arrow(
            create_bqstorage_client=False
        )
    except EtlError:
        raise
    except Exception as error:
        raise unreadable(error, ref, "the files already loaded") from None
    held: dict[tuple[str, str], int] = {}
    rows, untraced, snapshot = 0, 0, None
    for row in result.to_pylist():
        if row["kind"] == "state":
            rows, untraced, snapshot = int(row["n"] or 0), int(row["untraced"] or 0), row["run"]
        else:
            held[(row["f"], row["v"])] = int(row["n"])
    if untraced:
        raise StateUnavailable(
            f"{ref} holds {untraced} rows without {FILE_COLUMN} or {VERSION_COLUMN} (loaded by "
            "hand or by another tool), so which files it holds is unknown and this run loads "
            "nothing (it never reloads everything); load into a new table."
        )
    return FileState(held, rows, snapshot)


class _FileStrategy(LoadStrategy):
    uses_cursor = False
    changed_only: ClassVar[bool]

    def check_plans(self, job: JobSpec, plans: list[ColumnPlan]) -> None:
        names = {p.name for p in plans}
        missing = [n for n in (FILE_COLUMN, VERSION_COLUMN) if n not in names]
        if missing:
            raise ValidationError(
                f"A files job loads {', '.join(missing)} (the record of which file versions "
                "the table holds); the source did not give them."
            )

    def plan(
        self, job: JobSpec, client: bigquery.Client, table: bigquery.Table, ref: TableRef,
        columns: list[TargetColumn], plans: list[ColumnPlan], identity: Identity | None,
        *, fingerprinted: bool, location: str | None, now: dt.datetime,
        reader: SqlReader | None = None,
    ) -> Planned:  # fmt: skip
        assert isinstance(job.source, FilesSource)
        if not isinstance(reader, ListsFiles):
            raise ValidationError(
                f"Connection '{job.connection}' is not a file connection; a files source needs "
                "an ETL File Connection (gcs, s3, azure_blob or local)."
            )
        have = {f.name for f in table.schema}
        missing = [n for n in (FILE_COLUMN, VERSION_COLUMN) if n not in have]
        has_run_id = RUN_ID in have
        states: dict[str, FileState] = {}

        def read() -> IncrementPlan:
            if missing:  # added by this run's validation: fine only while the table is empty
                state = _require_empty(client, ref, location, missing)
            else:
                state = read_file_state(client, ref, location=location, has_run_id=has_run_id)
            token = state.token(job.load_type)
            states[token] = state
            return IncrementPlan(StateKey(token, state.rows), 1, "")

        increment = settle(
            client, ref, job.name, read, location=location, wait_timeout=3600.0,
            probes=replace.probes,  # a replacing run also submits a staging load
        )  # fmt: skip
        state = states[str(increment.state.marker)]
        listing = reader.files(job.source)
        files, replaced = self.select(listing, state.by_file(), reader.content_hash)
        return Planned(increment, files=tuple(files), replaced_files=tuple(replaced))

    def select(
        self, listing: list[StoredFile], held: dict[str, set[str]], content_hash: Hasher
    ) -> tuple[list[StoredFile], list[str]]:
        """The files to read (each with the version its rows get), and the addresses whose
        earlier rows their rows replace."""
        raise NotImplementedError

    def layout(self, table: bigquery.Table, cursor: TargetColumn | None) -> None:
        # A changed file's rows are replaced by file address: clustering on it lets the MERGE
        # rewrite only the blocks holding that file's rows.
        table.clustering_fields = [FILE_COLUMN]


def _require_empty(
    client: bigquery.Client, ref: TableRef, location: str | None, missing: list[str]
) -> FileState:
    rows = count_table_rows(client, ref, location)
    if rows:
        raise StateUnavailable(
            f"{ref} holds {rows} rows but no column {', '.join(missing)}, so which files it "
            "holds is unknown and this run loads nothing; load into a new table."
        )
    return FileState({}, 0, None)


class FileTransactional(_FileStrategy):
    """Append the files the table does not hold yet (new, or changed since)."""

    load_type = LoadType.TRANSACTIONAL
    write_disposition = bigquery.WriteDisposition.WRITE_APPEND

    def select(
        self, listing: list[StoredFile], held: dict[str, set[str]], content_hash: Hasher
    ) -> tuple[list[StoredFile], list[str]]:
        files, replaced = [], []
        for file in listing:
            versions = held.get(file.uri, set())
            file, same = check_held(file, versions, content_hash)
            if same:
                continue
            files.append(with_version(file, versions, content_hash))
            if versions:
                replaced.append(file.uri)
        return files, replaced


class FileCatalog(_FileStrategy):
    """Replace the table with every matching file when any of them changed."""

    load_type = LoadType.CATALOG
    write_disposition = bigquery.WriteDisposition.WRITE_TRUNCATE

    def select(
        self, listing: list[StoredFile], held: dict[str, set[str]], content_hash: Hasher
    ) -> tuple[list[StoredFile], list[str]]:
        files = listing
        if {f.uri for f in listing} == set(held):  # the same files: did any of them change?
            checked = [check_held(f, held[f.uri], content_hash) for f in listing]
            if all(same for _, same in checked):
                return [], []
            files = [f for f, _ in checked]
        return [with_version(f, held.get(f.uri, set()), content_hash) for f in files], []

    def check_extracted(self, job: JobSpec, ref: TableRef, rows: int, rejected: int) -> None:
        # No changed file is a run of 0 rows, not an empty source; and 0 rows never replace
        # the table (the load submits nothing), so the table is left as it was either way.
        return None


FILE_STRATEGIES: dict[LoadType, LoadStrategy] = {
    strategy.load_type: strategy for strategy in (FileCatalog(), FileTransactional())
}
