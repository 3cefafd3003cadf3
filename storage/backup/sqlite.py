"""SQLite: a backup through the online backup API while farmchat serves, and its restore.

The backup API (https://www.sqlite.org/backup.html) copies the database as one read
transaction sees it; in WAL mode that reader and the server's writers never wait for each
other. The copy is made in a temporary file beside PATH, checked with PRAGMA integrity_check,
made one self-contained file (journal_mode=DELETE) and only then renamed to PATH.

A restore swaps the database file only when no process has it open, and first removes the old
file's -wal, -shm and -journal, which SQLite would otherwise replay into the new one. With
force it writes the backup into the live database through the backup API instead, so that
whoever has it open reads the restored rows next. Whether a process has it open: in WAL mode
every connection holds a shared lock on the -shm file's "dead man switch" byte while it is
open (https://www.sqlite.org/walformat.html#the_wal_index_file_format).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sqlite3
import time
from dataclasses import replace
from pathlib import Path

from storage.backup.files import (
    FAILED,
    REFUSED,
    SQLITE_MAGIC,
    TABLES,
    BackupError,
    Report,
    durable_rename,
    identify,
    temporary,
)

SHM_DMS = 128  # the -shm byte of the dead man switch (os_unix.c: UNIX_SHM_DMS)
IN_USE_BY_SERVE = "a running farmchat serve (it holds the scheduler's lock)"


def backup(source: Path, dest: Path) -> Report:
    if not source.is_file():
        raise BackupError(f"there is no database at {source}", REFUSED)
    if dest.exists() and dest.resolve() == source.resolve():
        raise BackupError(f"{dest} is the database itself", REFUSED)
    with temporary(dest) as tmp:
        try:
            uri = f"{source.resolve().as_uri()}?mode=rw"  # never creates an empty database
            with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=30)) as live:
                live.execute("PRAGMA query_only = ON")
                with contextlib.closing(sqlite3.connect(tmp)) as copy:
                    live.backup(copy)  # in one step: one read transaction, one instant
                    copy.execute("PRAGMA journal_mode = DELETE")  # no -wal beside the copy
                    report = _report(copy, str(dest), "integrity_check")
        except sqlite3.Error as exc:
            raise BackupError(f"SQLite: {exc} (reading {source})") from exc
        durable_rename(tmp, dest)
    return replace(report, size=dest.stat().st_size)


def restore(source: Path, target: Path, force: bool) -> Report:
    identify(source, SQLITE_MAGIC, "SQLite")
    if target.exists() and target.resolve() == source.resolve():
        raise BackupError(f"{source} is the database itself", REFUSED)
    with temporary(target) as tmp:
        shutil.copyfile(source, tmp)  # checked as a copy: the backup file is never changed
        if target.exists():  # the restored file keeps the permissions of the one it replaces
            os.chmod(tmp, target.stat().st_mode & 0o777)
        checked = _checked_backup(tmp, source)
        users = users_of(target)
        if users and not force:
            raise BackupError(
                f"{target} is in use by {users}: stop it first, or pass --force", REFUSED
            )
        if users:
            _copy_into_live(tmp, target)
        else:
            for side in ("-wal", "-shm", "-journal"):
                Path(f"{target}{side}").unlink(missing_ok=True)
            durable_rename(tmp, target)
    with contextlib.closing(sqlite3.connect(target, timeout=30)) as restored:
        return replace(_report(restored, str(target), "quick_check"), check=checked.check)


def _checked_backup(copy: Path, source: Path) -> Report:
    """The backup's report, or BackupError when it is damaged or not farmchat's."""
    try:
        with contextlib.closing(sqlite3.connect(copy)) as conn:
            report = _report(conn, str(source), "integrity_check", REFUSED)
    except sqlite3.Error as exc:
        raise BackupError(f"{source} is not a usable SQLite database: {exc}", REFUSED) from exc
    if report.revision is None:
        raise BackupError(f"{source} is not a farmchat database (no schema revision)", REFUSED)
    return report


def _report(conn: sqlite3.Connection, where: str, pragma: str, code: int = FAILED) -> Report:
    found = [row[0] for row in conn.execute(f"PRAGMA {pragma}").fetchall()]
    if found != ["ok"]:
        raise BackupError(f"{where}: {pragma} found problems: {'; '.join(found[:5])}", code)
    q = "SELECT name FROM sqlite_master WHERE type = 'table'"
    tables = {row[0] for row in conn.execute(q)}
    counts = {
        t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in TABLES if t in tables
    }
    revision = None
    if "alembic_version" in tables:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        revision = row[0] if row else None
    return Report(where, "SQLite", f"{pragma} ok", revision, counts)


def users_of(db: Path) -> str | None:
    """Who has the database open: a running farmchat serve (the scheduler's lock beside it is
    held), any other process (a shared lock on the -shm file's dead man switch), or None."""
    with contextlib.suppress(FileNotFoundError):
        fd = os.open(f"{db}.scheduler-lock", os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return IN_USE_BY_SERVE
        finally:
            os.close(fd)  # and with it the lock, if this took it
    with contextlib.suppress(FileNotFoundError):
        fd = os.open(f"{db}-shm", os.O_RDWR)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, SHM_DMS)
            fcntl.lockf(fd, fcntl.LOCK_UN, 1, SHM_DMS)
        except OSError:
            return "another process (it has the database open)"
        finally:
            os.close(fd)
    return None


def _copy_into_live(tmp: Path, target: Path) -> None:
    """The backup's pages written into the live database in one write transaction, in line
    with farmchat's writers (they queue on the -writer.lock file: storage/sqlite_inline.py)."""
    fd = os.open(f"{target}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _wait_for_turn(fd)
        with (
            contextlib.closing(sqlite3.connect(tmp)) as copy,
            contextlib.closing(sqlite3.connect(target, timeout=60)) as live,
        ):
            copy.backup(live)
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite: {exc} (writing {target}); stop what uses it") from exc
    finally:
        os.close(fd)


def _wait_for_turn(fd: int, seconds: float = 60) -> None:
    """The writer lock, waited for (bounded): each holder keeps it for one transaction."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise BackupError("the database's writer lock stayed taken for a minute") from None
            time.sleep(0.01)
