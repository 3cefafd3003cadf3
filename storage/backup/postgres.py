"""PostgreSQL: pg_dump and pg_restore, pointed at the configured database.

The dump is of a snapshot exported by a REPEATABLE READ transaction that also counts the rows,
so the counts are those of the dump (https://www.postgresql.org/docs/current/app-pgdump.html,
--snapshot). The restore runs pg_restore --clean --if-exists --no-owner in one transaction:
the database is either the backup's or as it was. libpq gets the connection from the
environment, so a password is never on a command line or in a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.backup.files import (
    FAILED,
    PG_MAGIC,
    REFUSED,
    TABLES,
    BackupError,
    Report,
    durable_rename,
    identify,
    temporary,
)
from storage.db import create_engine
from storage.schedule import LOCK_KEY

DEBIAN_BINARIES = Path("/usr/lib/postgresql")  # Debian's versioned client programs
OTHER_SESSIONS = text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
)


async def backup(url: URL, dest: Path) -> Report:
    pg_dump, pg_restore = tool("pg_dump"), tool("pg_restore")
    env = libpq_env(url)
    with temporary(dest) as tmp:
        async with _connected(url) as conn:
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                q = text("SELECT pg_export_snapshot()")
                snapshot = (await conn.execute(q)).scalar_one()
                report = await _contents(conn, str(dest), "")
                dump = [pg_dump, "--format=custom", "--no-password", f"--snapshot={snapshot}"]
                await _run([*dump, f"--file={tmp}"], env)
        entries = _entries(await _run([pg_restore, "--list", str(tmp)], env))
        durable_rename(tmp, dest)
    check = f"pg_restore --list: {entries} entries"
    return replace(report, check=check, size=dest.stat().st_size)


async def restore(url: URL, source: Path, force: bool) -> Report:
    identify(source, PG_MAGIC, "PostgreSQL")
    pg_restore = tool("pg_restore")
    env = libpq_env(url)
    listing = await _run([pg_restore, "--list", str(source)], env, REFUSED)
    if " alembic_version " not in listing:
        raise BackupError(f"{source} is not a farmchat database (no schema revision)", REFUSED)
    async with _connected(url) as conn:  # it holds the scheduler's lock meanwhile, if free
        users = await _users(conn)
        if users and not force:
            raise BackupError(
                f"{_where(url)} is in use by {users}: stop it first, or pass --force", REFUSED
            )
        into = ["--clean", "--if-exists", "--no-owner", "--single-transaction", "--no-password"]
        await _run([pg_restore, *into, f"--dbname={url.database}", str(source)], env)
    async with _connected(url) as conn:
        where = url.render_as_string(hide_password=True)
        return await _contents(conn, where, f"pg_restore: {_entries(listing)} entries")


def tool(name: str) -> str:
    """A PostgreSQL client program: on PATH, else Debian's newest under /usr/lib/postgresql."""
    found = shutil.which(name)
    if found:
        return found
    versions = [p for p in DEBIAN_BINARIES.glob(f"*/bin/{name}") if p.parent.parent.name.isdigit()]
    if versions:
        return str(max(versions, key=lambda p: int(p.parent.parent.name)))
    raise BackupError(
        f"{name} not found on PATH or in {DEBIAN_BINARIES}/*/bin: install PostgreSQL's client "
        "programs (Debian: apt install postgresql-client)",
        REFUSED,
    )


def libpq_env(url: URL) -> dict[str, str]:
    """The environment that points libpq at url."""
    query = {k: v if isinstance(v, str) else v[0] for k, v in url.query.items()}
    found = {
        "PGHOST": url.host or query.get("host"),
        "PGPORT": url.port,
        "PGUSER": url.username,
        "PGPASSWORD": url.password,
        "PGDATABASE": url.database,
        "PGSSLMODE": query.get("sslmode") or query.get("ssl"),  # asyncpg's name for it: ssl
    }
    return {
        **os.environ,
        "PGAPPNAME": "farmchat-backup",
        **{k: str(v) for k, v in found.items() if v},
    }


def _where(url: URL) -> str:
    return f"database {url.database} at {url.host or 'localhost'}:{url.port or 5432}"


async def _run(args: list[str], env: dict[str, str], code: int = FAILED) -> str:
    """A client program's output; BackupError with the end of what it said when it fails."""
    proc = await asyncio.create_subprocess_exec(
        *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode:
        said = " | ".join(err.decode(errors="replace").strip().splitlines()[-5:])
        raise BackupError(f"{Path(args[0]).name} failed (exit {proc.returncode}): {said}", code)
    return out.decode(errors="replace")


@contextlib.asynccontextmanager
async def _connected(url: URL) -> AsyncIterator[AsyncConnection]:
    engine = create_engine(url.render_as_string(hide_password=False), pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            yield conn
    except (SQLAlchemyError, OSError) as exc:
        reason = str(exc.orig if isinstance(exc, DBAPIError) else exc)
        reason = re.sub(r"^<class '[\w.]+'>: ", "", reason)  # how SQLAlchemy wraps asyncpg's
        raise BackupError(f"{_where(url)}: {reason}") from exc
    finally:
        await engine.dispose()


async def _contents(conn: AsyncConnection, where: str, check: str) -> Report:
    q = text("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
    tables = set((await conn.execute(q)).scalars())
    counts = {}
    for t in (t for t in TABLES if t in tables):
        counts[t] = (await conn.execute(text(f'SELECT count(*) FROM "{t}"'))).scalar_one()
    revision = None
    if "alembic_version" in tables:
        q = text("SELECT version_num FROM alembic_version")
        revision = (await conn.execute(q)).scalar_one_or_none()
    return Report(where, "PostgreSQL", check, revision, counts)


def _entries(listing: str) -> int:
    """The entries of a pg_restore --list (its comment lines start with ';')."""
    return sum(1 for line in listing.splitlines() if line.strip() and not line.startswith(";"))


async def _users(conn: AsyncConnection) -> str | None:
    """Who uses the database besides this connection: other sessions, the scheduler's leader
    (whose advisory lock this connection takes, and keeps while it stays open, if it is free)."""
    others = (await conn.execute(OTHER_SESSIONS)).scalar_one()
    got = (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY})).scalar()
    await conn.commit()
    found = [f"{others} other connection{'s' * (others != 1)}"] if others else []
    if not got:
        found.append("a running farmchat serve (it holds the scheduler's lock)")
    return ", ".join(found) or None
