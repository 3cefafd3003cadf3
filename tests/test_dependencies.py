"""Dependencies: SQLAlchemy inside its pin with the private APIs storage/ runs on; the lock file.

storage/fast.py executes prebuilt statements on SQLite's own connection (and, through
storage/pg_inline.py, on asyncpg's) with the column types' own converters, reached through
SQLAlchemy's semi-private API. A SQLAlchemy release may move
them, so pyproject.toml pins one minor version and these tests say what is missing and where.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from datetime import datetime
from importlib import import_module, metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, insert, select, text
from sqlalchemy.dialects import sqlite

from storage import sqlite_inline
from storage.db import create_engine

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
PINNED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")
SQLITE = sqlite.dialect(paramstyle="qmark")  # as storage/fast.py compiles
ROWS = Table(
    "rows", MetaData(), Column("id", Integer), Column("at", DateTime), Column("s", String)
)


def runtime_requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = (Requirement(line) for line in project["dependencies"])
    return {canonicalize_name(r.name): r for r in requirements}


def sqlalchemy_pin() -> SpecifierSet:
    return runtime_requirements()["sqlalchemy"].specifier


def locked() -> dict[str, str]:
    """{package: version} of requirements.lock; it must be there for deployments."""
    assert LOCK.is_file(), f"{LOCK} is missing: deployments install from it"
    lines = LOCK.read_text(encoding="utf-8").splitlines()
    pins = (PINNED.match(line) for line in lines)
    return {canonicalize_name(m[1]): m[2] for m in pins if m}


def installed() -> Version:
    return Version(metadata.version("sqlalchemy"))


def lacks(api: str, used_by: str) -> str:
    return (
        f"SQLAlchemy {installed()} lacks {api}, which {used_by} uses; pyproject.toml pins "
        f"SQLAlchemy{sqlalchemy_pin()}: check {used_by} against this release before moving the pin"
    )


# the pin --------------------------------------------------------------------------------
def test_the_installed_sqlalchemy_is_inside_the_pin():
    pin = sqlalchemy_pin()
    assert pin, "pyproject.toml must pin SQLAlchemy to the minor version storage/fast.py is for"
    assert installed() in pin, (
        f"SQLAlchemy {installed()} is installed, outside the pin SQLAlchemy{pin} in "
        f"pyproject.toml: storage/fast.py uses its private APIs, checked for that range only"
    )
    upper = [s for s in pin if s.operator == "<"]
    assert upper, f"SQLAlchemy{pin} needs an upper bound: the next minor version may move them"


def test_the_lock_pins_sqlalchemy_inside_the_pin():
    version = locked().get("sqlalchemy")
    assert version, f"{LOCK.name} does not pin SQLAlchemy"
    assert Version(version) in sqlalchemy_pin(), (
        f"{LOCK.name} pins SQLAlchemy {version}, outside SQLAlchemy{sqlalchemy_pin()} of "
        "pyproject.toml"
    )


# the private APIs storage/ uses -----------------------------------------------------------
def compiled_insert() -> Any:
    return insert(ROWS).values(s="fixed").compile(dialect=SQLITE)


def bind_processor() -> Callable[[Any], Any] | None:
    return DateTime()._cached_bind_processor(SQLITE)


def result_processor() -> Callable[[Any], Any] | None:
    return DateTime()._cached_result_processor(SQLITE, None)


def test_type_converters_storage_fast_runs_are_there():
    for api in ("_cached_bind_processor", "_cached_result_processor", "_type_affinity"):
        assert hasattr(DateTime(), api), lacks(f"TypeEngine.{api}", "storage/fast.py")
    convert, read = bind_processor(), result_processor()
    assert callable(convert) and callable(read), lacks(
        "DateTime's SQLite bind and result processors", "storage/fast.py"
    )
    when = datetime(2026, 3, 1, 8, 30, 15)
    assert read(convert(when)) == when, lacks("a DateTime round trip", "storage/fast.py")
    assert issubclass(DateTime()._type_affinity or object, DateTime), lacks(
        "TypeEngine._type_affinity", "storage/fast.py"
    )


def test_compiled_binds_storage_fast_reads_are_there():
    compiled = compiled_insert()
    names = list(getattr(compiled, "positiontup", None) or ())
    assert names, lacks("SQLCompiler.positiontup (qmark order of the binds)", "storage/fast.py")
    binds = getattr(compiled, "binds", {})
    assert all(n in binds for n in names), lacks("SQLCompiler.binds", "storage/fast.py")
    for attribute in ("expanding", "required", "value", "type"):
        assert all(hasattr(binds[n], attribute) for n in names), lacks(
            f"BindParameter.{attribute}", "storage/fast.py"
        )
    assert "fixed" in [binds[n].value for n in names], lacks(
        "literal values as binds", "storage/fast.py"
    )


@pytest.mark.parametrize(
    "module, name, used_by",
    [
        ("sqlalchemy.util.concurrency", "await_", "storage/db.py (await_only)"),
        ("sqlalchemy.sql._typing", "_DMLTableArgument", "storage/db.py"),
        ("sqlalchemy.orm.state", "InstanceState._commit_all", "storage/repos.py (users)"),
        ("sqlalchemy.util.concurrency", "greenlet_spawn", "storage/pg_inline.py"),
    ],
)
def test_helpers_storage_db_imports_are_there(module, name, used_by):
    try:
        api: object = import_module(module)
        for part in name.split("."):
            api = getattr(api, part)
        found = True
    except (ImportError, AttributeError):
        found = False
    assert found, lacks(f"{module}.{name}", used_by)


def test_the_asyncpg_adapter_parts_storage_pg_inline_runs_on_are_there():
    from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
    from sqlalchemy.engine import Connection

    for api in ("_start_transaction", "_prepare", "_handle_exception"):
        assert callable(getattr(AsyncAdapt_asyncpg_connection, api, None)), lacks(
            f"AsyncAdapt_asyncpg_connection.{api}", "storage/pg_inline.py"
        )
    assert callable(getattr(Connection, "_handle_dbapi_exception", None)), lacks(
        "Connection._handle_dbapi_exception", "storage/pg_inline.py"
    )
    # _transaction, _execute_mutex and _invalidate_schema_cache_asof are set in __init__: a
    # PostgreSQL test of the fast path (tests/test_pg_inline.py) reads them on a connection


async def test_the_aiosqlite_adapter_commits_and_rolls_back_the_inline_connection(tmp_path):
    """SQLAlchemy's aiosqlite adapter looks at its driver's `_connection` before a commit or a
    rollback, and storage/db.py begins each transaction from SQLAlchemy's greenlet (await_)."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'farm.db'}")
    try:
        async with engine.begin() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            assert isinstance(driver, sqlite_inline.Connection)
            await conn.execute(text("CREATE TABLE rows (id INTEGER, at DATETIME, s TEXT)"))
            await conn.execute(insert(ROWS).values(id=1, s="kept"))
        async with engine.connect() as conn:
            await conn.execute(insert(ROWS).values(id=2, s="dropped"))
            await conn.rollback()
        async with engine.connect() as conn:
            kept = (await conn.execute(select(ROWS.c.s))).scalars().all()
    finally:
        await engine.dispose()
    assert kept == ["kept"], lacks(
        "the aiosqlite adapter's commit and rollback of the driver's _connection",
        "storage/sqlite_inline.py",
    )


# the lock file ----------------------------------------------------------------------------
def test_the_lock_pins_every_runtime_dependency_inside_its_range():
    pins = locked()
    for name, requirement in runtime_requirements().items():
        assert name in pins, f"{LOCK.name} lacks {requirement.name}, a runtime dependency"
        assert Version(pins[name]) in requirement.specifier, (
            f"{LOCK.name} pins {requirement.name} {pins[name]}, outside {requirement}"
        )


def test_every_locked_package_carries_its_hashes():
    entries = re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text(encoding="utf-8"))
    pinned = [entry for entry in entries if PINNED.match(entry)]
    assert pinned, f"{LOCK.name} pins nothing"
    unhashed = [entry.split()[0] for entry in pinned if "--hash=sha256:" not in entry]
    assert unhashed == [], f"{LOCK.name}: no hash for {unhashed} (pip --require-hashes refuses)"
