"""What backups of either database share: the error, the report, the file handling."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

TABLES = ("users", "listings", "orders", "outbox", "inbound_messages", "broadcasts")
SQLITE_MAGIC, PG_MAGIC = b"SQLite format 3\x00", b"PGDMP"
REFUSED, FAILED = 2, 1


class BackupError(Exception):
    """A backup or restore that did not happen: exit_code 2 when refused before it began,
    1 when it failed; either way PATH, or the restore's target, is as it was."""

    def __init__(self, message: str, exit_code: int = FAILED):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Report:
    """What a backup holds, or what a restore put in place."""

    where: str  # the backup file, or the restored database (no password)
    kind: Literal["SQLite", "PostgreSQL"]
    check: str  # how it was checked
    revision: str | None  # the schema's Alembic revision
    counts: dict[str, int]  # rows of the main tables
    size: int = 0  # bytes of a backup file


def identify(source: Path, magic: bytes, kind: str) -> None:
    """Refuse a file that is not a backup of this kind of database."""
    with open(source, "rb") as f:
        head = f.read(16)
    if head.startswith(magic):
        return
    names = {SQLITE_MAGIC: "a SQLite database", PG_MAGIC: "a pg_dump custom-format archive"}
    for other, name in names.items():
        if head.startswith(other):
            raise BackupError(f"{source} is {name}; the database here is {kind}", REFUSED)
    raise BackupError(f"{source} is not {names[magic]}", REFUSED)


@contextlib.contextmanager
def temporary(beside: Path) -> Iterator[Path]:
    """A new file (mode 0600) in the directory of `beside`, removed with SQLite's side files
    at the end unless it was renamed."""
    if not beside.parent.is_dir():
        raise BackupError(f"{beside}: the directory {beside.parent} does not exist", REFUSED)
    if beside.is_dir():
        raise BackupError(f"{beside} is a directory: give a file name", REFUSED)
    fd, name = tempfile.mkstemp(prefix=f".{beside.name}.", suffix=".partial", dir=beside.parent)
    os.close(fd)
    try:
        yield Path(name)
    finally:
        for side in ("", "-journal", "-wal", "-shm"):
            Path(name + side).unlink(missing_ok=True)


def durable_rename(tmp: Path, dest: Path) -> None:
    """tmp's bytes on disk, then tmp renamed to dest, and the rename on disk."""
    _fsync(tmp)
    os.replace(tmp, dest)
    _fsync(dest.parent)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
