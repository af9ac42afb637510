"""Connections from YAML documents (`etl connection apply`), saved as blocks.

    kind: sql                      # or bigquery (a BigQuery source), bigquery-destination
    name: shop-db
    type: postgresql
    host: db.internal
    database: shop
    username: etl
    password: ${SHOP_DB_PASSWORD}  # from the environment, stored encrypted by Prefect
    # password_secret: projects/p/secrets/shop-db-password   (Secret Manager instead)

Names are unique across every connection family, and a second connection to the same
(type, host, port, database, username) is refused with the name of the existing one.

A connection is tested before it is saved: a new one, and an edit that changes where or as whom
it connects (anything but timeouts and sampling). One that fails its test is not saved, unless
the operator asks to save it untested (a database not reachable from here yet); it is then marked
`untested` in its recorded health until a test passes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pydantic
from prefect.blocks.core import Block

from etl_bigquery.blocks.bigquery import BigQueryDestination
from etl_bigquery.blocks.bigquery_source import BigQuerySource
from etl_bigquery.blocks.files import FileConnection
from etl_bigquery.blocks.gcp_credentials import GcpCredentials
from etl_bigquery.blocks.nosql import NoSqlConnection
from etl_bigquery.blocks.registry import CONNECTION_TYPES, load_block
from etl_bigquery.blocks.sql import SqlConnection
from etl_bigquery.engine.errors import ConfigurationError
from etl_bigquery.service.job_files import describe_validation_error, expand_environment

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
KINDS: dict[str, type[Block]] = {
    "sql": SqlConnection,
    "bigquery": BigQuerySource,
    "bigquery-destination": BigQueryDestination,
    "nosql": NoSqlConnection,
    "files": FileConnection,
}


# Secret fields come back masked from the server; identities never depend on them.
_SECRET_FIELDS = ("password", "connection_string", "aws_secret_access_key")


# Settings that change how long or how much, never where or as whom: no re-test for them.
_NO_RETEST = frozenset(
    {"connect_timeout", "query_timeout_seconds", "timeout_seconds", "sample_size",
     "max_query_bytes", "block_type_slug"}
)  # fmt: skip


@dataclass(frozen=True)
class Applied:
    name: str
    kind: str
    created: bool
    block: Block
    saved: bool = True
    """False when the test failed and the connection was left as it was (or not created)."""
    changed: bool = True
    """False for an existing connection the document leaves as it is."""
    tested: bool = False
    test_status: str | None = None
    """success | failed | error; None when not tested (unchanged, or only timeouts changed)."""
    test_message: str | None = None
    untested: bool = False
    """Saved without a passing test (--save-untested)."""
    jobs_using: list[str] = field(default_factory=list)
    """For an edit: the jobs whose runs use the connection."""


def build_block(document: dict[str, Any], where: str) -> tuple[str, str, Block]:
    data = expand_environment(dict(document), where)
    kind = data.pop("kind", "sql")
    name = data.pop("name", None)
    if kind not in KINDS:
        raise ConfigurationError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}.")
    if not isinstance(name, str) or not NAME.match(name):
        raise ConfigurationError(
            f"{where}: name must be lower-case letters, digits and '-' (a block name), "
            f"got {name!r}."
        )
    if kind in ("bigquery", "bigquery-destination", "files") and "gcp_credentials_block" in data:
        # A service account held in a prefect-gcp GcpCredentials block, referred to by name.
        credentials_name = data.pop("gcp_credentials_block")
        credentials = load_block(GcpCredentials, credentials_name)
        if credentials is None:
            raise ConfigurationError(
                f"{where}: GcpCredentials block {credentials_name!r} does not exist."
            )
        data["gcp_credentials"] = credentials
    try:
        block = KINDS[kind].model_validate(data)
    except pydantic.ValidationError as error:
        raise ConfigurationError(describe_validation_error(error, f"{where} ({name})")) from None
    return name, kind, block


def _check_unique(name: str, block: Block) -> None:
    from prefect.client.orchestration import get_client

    for block_type in CONNECTION_TYPES:
        if isinstance(block, block_type):
            continue
        if load_block(block_type, name) is not None:
            raise ConfigurationError(
                f"A connection named '{name}' already exists as "
                f"{block_type.get_block_type_name()}; "
                "choose another name."
            )
    if not isinstance(block, SqlConnection | NoSqlConnection | FileConnection):
        return
    block_type = type(block)
    with get_client(sync_client=True) as client:
        documents = client.read_block_documents_by_type(
            block_type.get_block_type_slug(), include_secrets=False
        )
    for document in documents:
        if document.name == name:
            continue
        try:
            other = block_type.model_validate(
                {k: v for k, v in document.data.items() if k not in _SECRET_FIELDS}
            )
        except pydantic.ValidationError:
            continue
        if other.identity() == block.identity():
            same = (
                "type, endpoint, bucket and prefix"
                if isinstance(block, FileConnection)
                else "type, host, port, database and username"
            )
            raise ConfigurationError(
                f"This connection already exists as '{document.name}' (same {same}); use that "
                "one or change it."
            )


def _dump(block: Block) -> dict[str, Any]:
    """Every setting with secrets revealed, to compare (never printed or stored); a saved or
    loaded block also carries its document's id and name, which are no settings."""

    def settings_only(value: Any) -> Any:
        if isinstance(value, dict):  # nested blocks too (a GcpCredentials block)
            return {k: settings_only(v) for k, v in value.items()
                    if not k.startswith("_") and k != "block_type_slug"}  # fmt: skip
        return value

    result = settings_only(block.model_dump(mode="json", context={"include_secrets": True}))
    assert isinstance(result, dict)
    return result


def _settings(block: Block) -> dict[str, Any]:
    return {k: v for k, v in _dump(block).items() if k not in _NO_RETEST}


def _test(block: Block) -> Any:
    from etl_bigquery.blocks import health

    if isinstance(block, BigQueryDestination):
        return health.check_destination(block)
    return health.check_connection(block)  # type: ignore[arg-type]


def apply_document(document: dict[str, Any], where: str, *, save_untested: bool = False) -> Applied:
    """Test, then save: a new connection, or an edit of where or as whom it connects, is saved
    only when its test passes (or, with `save_untested`, saved and marked untested)."""
    from etl_bigquery.blocks import health
    from etl_bigquery.service.discovery import jobs_using

    name, kind, block = build_block(document, where)
    _check_unique(name, block)
    existing = load_block(type(block), name)
    if existing is not None and _dump(existing) == _dump(block):
        return Applied(name, kind, False, block, saved=False, changed=False)
    needs_test = existing is None or _settings(existing) != _settings(block)
    using = sorted(jobs_using(name)) if existing is not None else []
    if not needs_test:
        block.save(name, overwrite=True)
        return Applied(name, kind, False, block, jobs_using=using)
    outcome = _test(block)
    passed = outcome.status == "success"
    applied = Applied(
        name, kind, existing is None, block, saved=passed or save_untested, tested=True,
        test_status=outcome.status, test_message=outcome.message, untested=not passed,
        jobs_using=using,
    )  # fmt: skip
    if not applied.saved:
        return applied
    block.save(name, overwrite=True)
    if passed:
        health.record(name, outcome)
    else:
        health.mark_untested(name, outcome.message)
    return applied


# -- the console's connection forms ---------------------------------------------------------------


@dataclass(frozen=True)
class FormField:
    name: str
    widget: str
    """text | secret | number | checkbox | select"""
    required: bool
    default: Any
    description: str
    options: tuple[str, ...] = ()


def _widget(annotation: Any) -> tuple[str, tuple[str, ...]] | None:
    import enum
    import typing

    args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    kind = args[0]
    if isinstance(kind, type) and issubclass(kind, Block):
        return None  # a nested block (GcpCredentials): created in Prefect, named in YAML
    if kind is pydantic.SecretStr:
        return "secret", ()
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return "select", tuple(str(m.value) for m in kind)
    if kind is bool:
        return "checkbox", ()
    if kind is int:
        return "number", ()
    return "text", ()


def form_fields(kind: str) -> list[FormField]:
    """The fields of a connection family's form, from its block's schema; secrets are
    write-only fields (never filled from the saved block)."""
    if kind not in KINDS:
        raise ConfigurationError(f"kind {kind!r} is not one of {', '.join(KINDS)}.")
    fields = []
    for name, info in KINDS[kind].model_fields.items():
        found = _widget(info.annotation)
        if found is None:
            continue
        widget, options = found
        default = None if info.is_required() else info.default
        fields.append(FormField(name, widget, info.is_required(), default,
                                info.description or "", options))  # fmt: skip
    return fields


def saved_values(kind: str, name: str) -> dict[str, Any]:
    """A saved connection's settings for its edit form, secrets left out."""
    block = load_block(KINDS[kind], name)
    if block is None:
        raise ConfigurationError(f"Connection '{name}' does not exist as {kind}.")
    secret = {f.name for f in form_fields(kind) if f.widget == "secret"}
    values = block.model_dump(mode="json")
    return {k: v for k, v in values.items() if k not in secret and not k.startswith("_")}


def document_from_form(form: dict[str, Any], *, editing: bool = False) -> dict[str, Any]:
    """The YAML document a form describes: empty fields left out; on an edit, an empty secret
    keeps the saved one (secrets are write-only: the form never holds them)."""
    kind = str(form.get("kind") or "sql")
    fields = {f.name: f for f in form_fields(kind)}
    document: dict[str, Any] = {"kind": kind, "name": str(form.get("name") or "").strip()}
    for name, spec in fields.items():
        value = form.get(name)
        if spec.widget == "checkbox":
            document[name] = value in ("on", "true", "1", True)
        elif value not in (None, ""):
            document[name] = (
                int(value) if spec.widget == "number" and str(value).isdigit() else value
            )
    if editing:
        saved = load_block(KINDS[kind], document["name"])
        for name, spec in fields.items():
            if spec.widget == "secret" and name not in document and saved is not None:
                kept = getattr(saved, name, None)
                if kept is not None:
                    document[name] = kept.get_secret_value()
    return document


def test_document(document: dict[str, Any]) -> Any:
    """The connection test of a document, without saving anything (the console's Test)."""
    name, _kind, block = build_block(document, "the connection form")
    _check_unique(name, block)
    return _test(block)
