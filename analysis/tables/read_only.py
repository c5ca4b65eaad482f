"""Read-only SQL over the views: what a statement is, by DuckDB's parser, and an engine lock.

Two locks, so that a statement the first one lets through still cannot write:

1. **The statement.** DuckDB's own parser (:func:`duckdb.extract_statements`) types it; only
   ``SELECT`` passes (to DuckDB, ``WITH``, ``FROM``-first, ``VALUES``, ``DESCRIBE``, ``SHOW``
   and ``SUMMARIZE`` are SELECTs too). ``EXPLAIN [ANALYZE]`` passes only when the statement
   it wraps does: ``EXPLAIN ANALYZE`` runs it. A refused statement is named by what it
   says (``INSTALL``, not DuckDB's ``LOAD`` type that covers it).
2. **The engine** (:func:`lock_engine`, once the views exist): ``enable_external_access =
   false`` with ``allowed_paths`` = exactly the parts the views read, no extension
   installs, no persistent secrets, then ``lock_configuration = true``. A statement that
   slipped through cannot open any other file (to read or write), create a database file,
   install or load an extension from disk, or change a setting back.

DuckDB grants read and write together (``allowed_paths`` and ``allowed_directories`` do not
tell them apart; there is no read-only file system setting), so what the lock cannot stop is
a write to one of the parts themselves: ``COPY ... TO '<part>' (USE_TMP_FILE false)``. That
is a COPY, refused by the first lock. Directories the caller asks to read (``farm sql
--read DIR``) are allowed whole, on the same terms.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import duckdb

_READ_TYPES = {"SELECT"}
_EXPLAIN = "EXPLAIN"
# DuckDB's statement type groups statements that say different things; name them as written
_NAMED_BY_KEYWORD = {"LOAD", "MULTI"}
_ONLY = "only SELECT, and EXPLAIN [ANALYZE] of a SELECT, run"


class CatalogError(ValueError):
    """Bad input to the catalog (SQL, path); the message is one line for the user."""


class ReadOnlyError(CatalogError):
    """A statement that would write, named by what it is."""


def check_read_only(sql: str) -> None:
    """Refuse anything but one SELECT-like statement (EXPLAIN [ANALYZE] of one included).

    Raises:
        ReadOnlyError: A statement that could write (named: ``INSTALL``, ``COPY``,
            ``EXPLAIN ANALYZE COPY``...).
        CatalogError: No statement, several statements, or SQL that does not parse.
    """
    if not sql or not sql.strip():
        raise CatalogError("no SQL given (pass it as an argument or on stdin)")
    statements = _parse(sql)
    if not statements:
        raise CatalogError("no SQL statement found")
    if len(statements) > 1:
        raise CatalogError(f"one statement at a time, got {len(statements)}")
    name, why = _classify(statements[0].query)
    if name is not None:
        raise ReadOnlyError(f"farm sql is read-only: {name} statements are refused ({why}{_ONLY})")


def lock_engine(
    con: duckdb.DuckDBPyConnection, readable: Iterable[Path], directories: Iterable[Path] = ()
) -> None:
    """Allow ``con`` to open only ``readable`` files (and files under ``directories``); lock it.

    Call it after the views and registered tables exist: from then on no setting changes.
    """
    paths = sorted({str(p) for p in readable})  # DuckDB normalises relative paths itself
    folders = sorted({str(Path(d).resolve()).rstrip("/") + "/" for d in directories})
    con.execute("SET allowed_paths = $1", [paths])  # a parameter: a long literal parses slowly
    if folders:
        con.execute("SET allowed_directories = $1", [folders])
    for setting in (
        "autoinstall_known_extensions = false",
        "allow_community_extensions = false",
        "allow_persistent_secrets = false",
        "enable_external_access = false",
        "lock_configuration = true",
    ):
        con.execute(f"SET {setting}")


def named_identifiers(sql: str) -> set[str]:
    """Lower-cased identifiers and keywords of ``sql``, by DuckDB's tokenizer (none if it fails)."""
    try:
        tokens = duckdb.tokenize(sql)
    except (duckdb.Error, RuntimeError):
        return set()
    wanted = {duckdb.token_type.identifier, duckdb.token_type.keyword}
    return {word.lower() for word, kind in _token_texts(sql, tokens) if kind in wanted}


# -- classification -------------------------------------------------------------------------


def _parse(sql: str) -> list[duckdb.Statement]:
    try:
        return list(duckdb.extract_statements(sql))
    except duckdb.Error as exc:
        raise CatalogError(sql_error_line(exc)) from None


def _classify(text: str) -> tuple[str | None, str]:
    """(None, "") for a read-only statement, else (its name, why it is refused)."""
    statement = _parse(text)[0]
    kind = _type_name(statement)
    if kind in _READ_TYPES:
        return None, ""
    if kind != _EXPLAIN:
        name = _leading_words(text) if kind is None or kind in _NAMED_BY_KEYWORD else kind
        return name, ""
    words, inner = _explained(text)
    if inner is None:
        return words, "farm cannot tell which statement this EXPLAIN wraps; "
    name, _ = _classify(inner)
    if name is None:
        return None, ""
    runs = f"{words} runs the {name}; " if words != _EXPLAIN else ""
    return f"{words} {name}", runs


def _type_name(statement: duckdb.Statement) -> str | None:
    try:
        return statement.type.name
    except ValueError:  # a statement type the Python binding has no name for
        return None


def _explained(text: str) -> tuple[str, str | None]:
    """``("EXPLAIN [ANALYZE]", the statement it wraps)``; the statement is None if unclear.

    The wrapped statement starts after ``EXPLAIN``, an optional ``ANALYZE`` and an optional
    option list ``(FORMAT json)``; a parenthesised query (``EXPLAIN (SELECT 1)``) is tried
    as the statement first.
    """
    tokens = _token_texts(text, duckdb.tokenize(text), offsets=True)
    words = [tokens[0][0].upper()]
    i = 1
    if i < len(tokens) and tokens[i][0].upper() in ("ANALYZE", "ANALYSE"):
        words.append(tokens[i][0].upper())
        i += 1
    label = " ".join(words)
    if i >= len(tokens):
        return label, None
    candidates = [tokens[i][2]]
    if tokens[i][0].startswith("("):
        depth = 0
        for word, kind, offset in tokens[i:]:
            if kind == duckdb.token_type.operator:
                depth += word.count("(") - word.count(")")
            if depth <= 0:
                candidates.append(offset + len(word))
                break
    for start in candidates:
        rest = text[start:]
        try:
            inner = list(duckdb.extract_statements(rest))
        except duckdb.Error:
            continue
        if len(inner) == 1:
            return label, rest
    return label, None


def _leading_words(text: str) -> str:
    """The statement's first keyword (two for ``FORCE INSTALL``, ``UPDATE EXTENSIONS``)."""
    words = [w.upper() for w, kind in _token_texts(text, duckdb.tokenize(text))][:2]
    if len(words) == 2 and words[0] in ("FORCE", "UPDATE"):
        return " ".join(words)
    return words[0] if words else "this"


def _token_texts(text: str, tokens: list, offsets: bool = False) -> list:
    """``(text, kind)`` (or ``(text, kind, offset)``) of each token that is not a comment."""
    out = []
    for k, (offset, kind) in enumerate(tokens):
        end = tokens[k + 1][0] if k + 1 < len(tokens) else len(text)
        if kind == duckdb.token_type.comment:
            continue
        word = text[offset:end].strip()
        out.append((word, kind, offset) if offsets else (word, kind))
    return out


def sql_error_line(exc: BaseException) -> str:
    """A DuckDB error about a statement as one line (its ``LINE 1: ...`` context kept)."""
    text = " ".join(str(exc).split())
    return re.sub(r"^(\w+ )?Error: ", "", text) or type(exc).__name__
