"""Backups of the configured database, safe while farmchat serves, and their restore: SQLite's
online backup API (storage/backup/sqlite.py) or pg_dump and pg_restore (postgres.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import URL, make_url

from storage.backup import postgres, sqlite
from storage.backup.files import REFUSED, BackupError, Report
from storage.db import alembic_config, head_revision

__all__ = ["BackupError", "Report", "backup", "restore", "revision_status"]


def backup(url: str, path: str) -> Report:
    """Write a consistent copy of the database at url to path (replacing a file there)."""
    source, dest = make_url(url), Path(path)
    try:
        if source.get_backend_name() == "sqlite":
            return sqlite.backup(_file_of(source), dest)
        return asyncio.run(postgres.backup(source, dest))
    except OSError as exc:
        raise BackupError(str(exc)) from exc


def restore(url: str, path: str, force: bool = False, database: str | None = None) -> Report:
    """Replace the database at url, or the one named `database` of its kind (a SQLite file, a
    database on the same PostgreSQL server), with the backup at path; refused while another
    process uses it, unless force."""
    target = make_url(url) if database is None else make_url(url).set(database=database)
    source = Path(path)
    if not source.is_file():
        raise BackupError(f"{path}: no such file", REFUSED)
    try:
        if target.get_backend_name() == "sqlite":
            return sqlite.restore(source, _file_of(target), force)
        return asyncio.run(postgres.restore(target, source, force))
    except OSError as exc:
        raise BackupError(str(exc)) from exc


def revision_status(revision: str | None) -> Literal["newest", "older", "unknown"]:
    """Where a schema revision stands against this farmchat's migrations."""
    if revision is not None and revision == head_revision():
        return "newest"
    scripts = ScriptDirectory.from_config(alembic_config())
    try:
        return "older" if revision is None or scripts.get_revision(revision) else "unknown"
    except CommandError:
        return "unknown"


def _file_of(url: URL) -> Path:
    if url.database in (None, "", ":memory:"):
        raise BackupError("the database is in memory: there is no file to copy", REFUSED)
    return Path(str(url.database))
