"""Is a job's custom query one read-only SELECT? Checked with a real SQL parser (sqlglot) for the
connection's dialect, before anything reaches the database.

Accepted: exactly one statement that is a query (SELECT, WITH ... SELECT, UNION / INTERSECT /
EXCEPT, VALUES); a trailing `;` is allowed and stripped. Refused, each with one sentence: several
statements, any other statement (INSERT, UPDATE, DELETE, MERGE, DDL, COPY, CALL, SET...), a
data-modifying statement anywhere inside (PostgreSQL runs `WITH x AS (DELETE ... RETURNING *)
SELECT ...`), `SELECT ... INTO` (creates a table), `FOR UPDATE / SHARE` (takes locks), and text the
parser cannot read. The query is executed as the user wrote it (sqlglot's rendering could change
its meaning); only the trailing `;` and surrounding whitespace are removed.

Two more refusals keep the parser's view equal to the server's (issue 19):
- functions that change the session's settings (`set_config`): on PostgreSQL,
  `set_config('default_transaction_read_only', 'off', false)` would turn the session's read-only
  default off for the statements after it. (The readers also run every statement in a
  transaction of its own that is read only, so a setting changed by a function the parser cannot
  see inside is still contained: engine/sources/postgres.py and mysql.py.)
- MySQL/MariaDB executable comments (`/*! ... */`, `/*!50000 ... */`, `/*M! ... */`): the server
  runs their text as SQL while every parser, sqlglot's included, skips them as comments.

Remaining risk: a SELECT can still call functions with side effects. PostgreSQL sources run in a
read-only transaction with a statement timeout, which stops writes to tables, sequences' `setval`
and DDL, but not every function: `pg_terminate_backend`, `pg_cancel_backend`, `dblink_exec` (it
writes through another connection), `pg_notify`, advisory locks and some extensions' functions act
outside the transaction, and `nextval` is refused only because of the read-only mode. Give ETL a
read-only role (SELECT privileges only; `etl connection test` warns when the role can write).
SQLite files are opened read-only, which stops every write.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from etl_bigquery.engine.errors import ConfigurationError, ValidationError
from etl_bigquery.engine.sources.registry import QueryDialect, by_dialect

_FIX = "a source query must be one SELECT (or WITH ... SELECT, UNION, VALUES) and only reads"
# Tokens a query may start with; anything else is another kind of statement.
_QUERY_START = {TokenType.SELECT, TokenType.WITH, TokenType.VALUES, TokenType.TABLE,
                TokenType.L_PAREN}  # fmt: skip
_WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Merge)
_WRITE_NAMES = {exp.Insert: "INSERT", exp.Update: "UPDATE", exp.Delete: "DELETE",
                exp.Merge: "MERGE"}  # fmt: skip
# Functions that change the session's settings (lower case; a schema-qualified call such as
# pg_catalog.set_config parses to the same name).
_SESSION_SETTERS = {"set_config"}
# Dialects whose servers execute comments that start with '!' (MySQL) or 'M!' (MariaDB).
_EXECUTABLE_COMMENTS = {"mysql"}
_EXECUTABLE_COMMENT = re.compile(r"/\*M?!")


def query_dialect(dialect: str) -> QueryDialect | None:
    """The SQL dialect custom queries of `dialect`'s source type are checked in (its registry
    entry's `query`); None when the type takes no custom queries."""
    try:
        return by_dialect(dialect).query
    except ConfigurationError:
        return None


def check_query(sql: str, dialect: str) -> str:
    """The text to execute for `sql` (trailing `;` and whitespace removed), or `ValidationError`
    with one sentence saying what to fix."""
    return _checked(sql, dialect)


@functools.lru_cache(maxsize=64)
def _checked(sql: str, dialect: str) -> str:
    grammar = query_dialect(dialect)
    if grammar is None:
        raise ValidationError(f"Custom queries are not supported for {dialect} sources yet.")
    read, name = grammar.sqlglot, grammar.name
    parser = Dialect.get_or_raise(read)
    try:
        tokens = parser.tokenize(sql)
    except TokenError as error:
        raise ValidationError(_unreadable(error, name)) from None
    # A single trailing ';' (or several) ends the statement: cut the text there.
    end = len(tokens)
    while end and tokens[end - 1].token_type is TokenType.SEMICOLON:
        end -= 1
    if end == 0:
        raise ValidationError("The query is empty; write one SELECT statement.")
    body = tokens[:end]
    if any(token.token_type is TokenType.SEMICOLON for token in body):
        raise ValidationError(
            "The query holds several statements separated by ';'; keep one SELECT statement."
        )
    text = sql[: tokens[end].start].strip() if end < len(tokens) else sql.strip()
    if read in _EXECUTABLE_COMMENTS:
        _refuse_executable_comments(sql, tokens)
    first = body[0]
    if first.token_type not in _QUERY_START:
        if first.token_type in (TokenType.VAR, TokenType.IDENTIFIER) or not first.text.isalpha():
            raise ValidationError(
                f"The query starts with '{first.text}', not SELECT, WITH or VALUES; fix the SQL."
            )
        raise ValidationError(f"The query is {_a(first.text.upper())} statement; {_FIX}.")
    try:
        statements = [s for s in parser.parse(text) if s is not None]
    except ParseError as error:
        raise ValidationError(_unparsable(error, name)) from None
    except TokenError as error:
        raise ValidationError(_unreadable(error, name)) from None
    if len(statements) != 1:  # cannot happen without a ';', but never run what was not checked
        raise ValidationError(
            "The query holds several statements separated by ';'; keep one SELECT statement."
        )
    _refuse_non_reads(statements[0])
    return text


def _refuse_executable_comments(text: str, tokens: list[Any]) -> None:
    """Comments live between tokens (string literals are tokens, so '/*!' inside a string is
    never looked at): scan every gap of the text for a comment the server would execute."""
    previous_end = -1
    for token in [*tokens, None]:
        start = len(text) if token is None else token.start
        if _EXECUTABLE_COMMENT.search(text[previous_end + 1 : start]):
            raise ValidationError(
                "The query holds a MySQL executable comment (/*! ... */ or /*M! ... */), whose "
                "text the server runs as SQL unchecked; remove the comment or write its SQL "
                "plainly."
            )
        if token is not None:
            previous_end = token.end


def _refuse_non_reads(tree: exp.Expr) -> None:
    if isinstance(tree, _WRITES):  # e.g. WITH x AS (...) DELETE ...
        raise ValidationError(f"The query is {_a(_WRITE_NAMES[type(tree)])} statement; {_FIX}.")
    if not isinstance(tree, exp.Query | exp.Values):
        raise ValidationError(f"The query is not a SELECT statement; {_FIX}.")
    for node in tree.walk():
        if isinstance(node, _WRITES):
            verb = _a(_WRITE_NAMES[type(node)])
            cte = node.find_ancestor(exp.CTE)
            where = f"The query's WITH part {cte.alias}" if cte is not None else "The query"
            raise ValidationError(f"{where} holds {verb} statement, which changes data; {_FIX}.")
        if isinstance(node, exp.Into):
            raise ValidationError(
                "SELECT ... INTO creates a table; remove the INTO clause (the job writes the "
                "rows to BigQuery)."
            )
        if isinstance(node, exp.Anonymous) and node.name.lower() in _SESSION_SETTERS:
            raise ValidationError(
                f"The query calls {node.name.lower()}(), which changes the session's settings "
                "(it could turn the read-only mode off); remove the call."
            )
        if isinstance(node, exp.Lock):
            raise ValidationError(
                "The query locks rows with FOR UPDATE or FOR SHARE; remove the locking clause "
                "(a source query only reads)."
            )


def _a(word: str) -> str:
    return ("an " if word[0] in "AEIOU" else "a ") + word


def _unparsable(error: ParseError, name: str) -> str:
    detail = error.errors[0] if error.errors else {}
    description = str(detail.get("description") or "syntax error").rstrip(".")
    where = ""
    if detail.get("line") and detail.get("col"):
        near = str(detail.get("highlight") or "").strip()
        near_text = f" near '{near}'" if near else ""
        where = f"{near_text} (line {detail['line']}, column {detail['col']})"
    return f"The query is not valid {name}: {description}{where}; fix the SQL."


def _unreadable(error: TokenError, name: str) -> str:
    match = re.search(r"Error tokenizing '(.*)'", str(error), re.DOTALL)
    context = " ".join(match.group(1).split())[-40:] if match else ""
    near = f" after '{context}'" if context else ""
    return (
        f"The query is not valid {name}: it cannot be read{near} (an unclosed quote, comment "
        "or dollar-quoted string?); fix the SQL."
    )
