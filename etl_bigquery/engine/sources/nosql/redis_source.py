"""Redis: a table is a key prefix. `table: user` reads every key `user:*` of the database;
`schema` is the database (`db0`, `db1`...; default: the connection's `database`, else db0).

How keys become rows (one key = one row, `document_id` = the key):
- a **hash** (`HSET user:1 name Ann age 31`): its fields are the columns;
- a **string** holding a JSON object (`SET user:1 '{"name": "Ann"}'`): its members are the columns;
  any other string: one column `value`;
- a **list**, **set** or **sorted set**: one column `value` holding a JSON array (a sorted set as
  `[member, score]` pairs); a **RedisJSON** document: its members, like a JSON string.
Redis keeps text, so hash fields are strings: `etl connection columns` and `etl job apply`
detect integers, timestamps, dates and booleans in them from a sample (medium confidence), and
`column_types` sets any type.

Keys are enumerated with `SCAN` (never `KEYS`, which blocks the server), in batches read through
one pipeline each. SCAN may return a key twice while the keyspace is resized; the reader keeps
the keys it has returned in memory for the length of a read, so each key is one row. Redis has
no query on values: an incremental run scans every key of the prefix and the engine keeps the
rows at or after the cursor bound (a client-side filter), exactly once as for every source.
Tables in discovery are the prefixes before the first `:` among the first 100,000 keys scanned.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from etl_bigquery.engine.errors import ConnectionFailed, Stage, ValidationError
from etl_bigquery.engine.jobs.model import TableSource
from etl_bigquery.engine.sources import connection_errors
from etl_bigquery.engine.sources.base import CursorBound, TableInfo
from etl_bigquery.engine.sources.nosql.documents import (
    DocumentReader,
    NoSqlSettings,
    SchemaFromSample,
    client_factory,
)

SEPARATOR = ":"
SCAN_COUNT = 1000
DISCOVERY_KEYS = 100_000
VALUE_COLUMN = "value"


def _classify(error: Exception, stage: Stage = Stage.INIT) -> Exception:
    from redis import exceptions as redis_errors

    text = str(error).lower()
    if (
        isinstance(error, redis_errors.AuthenticationError)
        or "wrongpass" in text
        or ("noauth" in text)
    ):
        return ConnectionFailed(connection_errors.AUTH, transient=False, stage=stage)
    if "noperm" in text:
        return ConnectionFailed(connection_errors.ACCESS, transient=False, stage=stage)
    if isinstance(error, redis_errors.TimeoutError):
        return ConnectionFailed(connection_errors.TIMEOUT, transient=True, stage=stage)
    if isinstance(error, redis_errors.ConnectionError):
        return connection_errors.connection_error(text, stage=stage)
    if isinstance(error, redis_errors.ResponseError):
        if "db index is out of range" in text or "invalid db index" in text:
            return ValidationError("That Redis database number does not exist on this server.")
        return ValidationError(f"Redis refused the command: {error}.")
    return error


def _db_number(name: str | None, default: int) -> int:
    if name in (None, ""):
        return default
    text = str(name).lower().removeprefix("db")
    if not text.isdigit():
        raise ValidationError(
            f"Redis schema '{name}' is not a database; use db0, db1... (or leave it empty)."
        )
    return int(text)


def _text(raw: bytes) -> str | bytes:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw  # binary data stays bytes (BYTES, or base64 in text columns)


def _fields(kind: str, value: Any) -> dict[str, Any]:
    """One key's value as the row's fields."""
    if kind == "hash":
        return {str(_text(k)): _text(v) for k, v in (value or {}).items()}
    if kind in ("string", "ReJSON-RL"):
        text = _text(value) if isinstance(value, bytes) else value
        if isinstance(text, str):
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            if isinstance(parsed, list) and kind == "ReJSON-RL" and len(parsed) == 1:
                parsed = parsed[0]  # JSON.GET with a $ path answers an array of matches
            if isinstance(parsed, dict):
                return parsed
        return {VALUE_COLUMN: text}
    if kind == "list":
        return {VALUE_COLUMN: [_text(v) for v in value]}
    if kind == "set":
        return {VALUE_COLUMN: {_text(v) for v in value}}
    if kind == "zset":
        return {VALUE_COLUMN: [[_text(member), score] for member, score in value]}
    return {VALUE_COLUMN: None}  # streams and modules' types: the key alone


class RedisReader(SchemaFromSample, DocumentReader):
    key = "redis"

    def __init__(self, settings: NoSqlSettings) -> None:
        super().__init__(settings)
        self._default_db = _db_number(settings.database, 0)
        self._clients: dict[int, Any] = {}
        self._client(self._default_db)

    def _client(self, db: int) -> Any:
        if db not in self._clients:
            factory = client_factory("redis")
            if factory is not None:
                self._clients[db] = factory(self.settings)
            else:
                import redis

                self._clients[db] = redis.Redis(
                    host=self.settings.host or "localhost",
                    port=self.settings.port or 6379,
                    db=db,
                    username=self.settings.username or None,
                    password=self.settings.password or None,
                    ssl=self.settings.tls,
                    socket_connect_timeout=self.settings.connect_timeout,
                    socket_timeout=max(self.settings.connect_timeout, 60),
                    decode_responses=False,
                )
        return self._clients[db]

    def _db(self, source_or_schema: TableSource | str | None) -> Any:
        name = (
            source_or_schema.schema_name
            if isinstance(source_or_schema, TableSource)
            else source_or_schema
        )
        return self._client(_db_number(name, self._default_db))

    def ping(self) -> None:
        try:
            self._db(None).ping()
        except Exception as error:
            raise _classify(error) from None

    def _namespaces(self) -> list[str]:
        try:
            keyspace = self._db(None).info("keyspace")
        except Exception as error:
            raise _classify(error) from None
        numbers = {self._default_db} | {
            int(name.removeprefix("db")) for name in keyspace if str(name).startswith("db")
        }
        return [f"db{n}" for n in sorted(numbers)]

    def _collections(self, namespace: str | None) -> list[TableInfo]:
        client = self._db(namespace)
        schema = f"db{_db_number(namespace, self._default_db)}"
        counts: dict[str, int] = {}
        scanned = 0
        try:
            for raw in client.scan_iter(count=SCAN_COUNT):
                scanned += 1
                key = _text(raw)
                if isinstance(key, str) and SEPARATOR in key:
                    prefix = key.split(SEPARATOR, 1)[0]
                    counts[prefix] = counts.get(prefix, 0) + 1
                if scanned >= DISCOVERY_KEYS:
                    break
        except Exception as error:
            raise _classify(error, Stage.VALIDATION) from None
        partial = scanned >= DISCOVERY_KEYS
        return [TableInfo(schema, prefix, count, estimated=partial)
                for prefix, count in sorted(counts.items())]  # fmt: skip

    @staticmethod
    def _pattern(source: TableSource) -> str:
        escaped = "".join(f"\\{c}" if c in "*?[]\\" else c for c in source.table)
        return f"{escaped}{SEPARATOR}*"

    def _exists(self, source: TableSource) -> bool:
        return next(iter(self._documents(source, None, 1)), None) is not None

    def _count(self, source: TableSource) -> int | None:
        try:
            return sum(1 for _ in self._keys(source))
        except Exception:
            return None

    def _keys(self, source: TableSource) -> Iterator[bytes]:
        seen: set[bytes] = set()
        for raw in self._db(source).scan_iter(match=self._pattern(source), count=SCAN_COUNT):
            if raw not in seen:  # SCAN may return a key twice
                seen.add(raw)
                yield raw

    def _documents(
        self, source: TableSource, bound: CursorBound | None, limit: int | None
    ) -> Iterator[tuple[Any, Mapping[str, Any]]]:
        # `bound` is not used: Redis cannot compare values; the engine filters the rows.
        client = self._db(source)
        stage = Stage.VALIDATION if limit is not None else Stage.EXTRACTION
        returned = 0
        batch: list[bytes] = []
        try:
            for raw in self._keys(source):
                batch.append(raw)
                if len(batch) >= SCAN_COUNT or (
                    limit is not None and returned + len(batch) >= limit
                ):
                    for document in self._read_keys(client, batch):
                        yield document
                        returned += 1
                        if limit is not None and returned >= limit:
                            return
                    batch = []
            for document in self._read_keys(client, batch):
                yield document
                returned += 1
                if limit is not None and returned >= limit:
                    return
        except Exception as error:
            raise _classify(error, stage) from None

    @staticmethod
    def _read_keys(client: Any, keys: list[bytes]) -> list[tuple[str, dict[str, Any]]]:
        if not keys:
            return []
        with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.type(key)
            kinds = [_text(k) for k in pipe.execute()]
        with client.pipeline(transaction=False) as pipe:
            for key, kind in zip(keys, kinds, strict=True):
                if kind == "hash":
                    pipe.hgetall(key)
                elif kind == "string":
                    pipe.get(key)
                elif kind == "list":
                    pipe.lrange(key, 0, -1)
                elif kind == "set":
                    pipe.smembers(key)
                elif kind == "zset":
                    pipe.zrange(key, 0, -1, withscores=True)
                elif kind == "ReJSON-RL":
                    pipe.execute_command("JSON.GET", key)
                else:
                    pipe.exists(key)
            values = pipe.execute(raise_on_error=False)
        documents = []
        for key, kind, value in zip(keys, kinds, values, strict=True):
            if kind == "none" or isinstance(value, Exception):
                continue  # deleted (or changed type) between the scan and the read
            documents.append((str(_text(key)), _fields(str(kind), value)))
        return documents

    def close(self) -> None:
        for client in self._clients.values():
            close = getattr(client, "close", None)
            if callable(close):
                close()
        self._clients = {}


def open_reader(settings: NoSqlSettings) -> RedisReader:
    return RedisReader(settings)
