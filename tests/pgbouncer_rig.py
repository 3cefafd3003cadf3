"""Debian's PgBouncer in transaction pooling mode in front of the test PostgreSQL
(127.0.0.1:5432), on a free loopback port: for tests/test_pgbouncer.py and
bench/twilio_load.py --pgbouncer."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
MISSING = "" if Path(PGBOUNCER).is_file() else "Debian's pgbouncer is not installed"


def through(url: str, port: int) -> str:
    """A PostgreSQL URL with PgBouncer's address in place of the server's."""
    database = url.split("@", 1)[1].split("/", 1)[1]
    return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/{database}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_pgbouncer(pool_size: int = 4, socket_dir: Path | None = None) -> Iterator[int]:
    """PgBouncer (pool_mode = transaction, pool_size server connections per database) until
    the block ends; yields its port. Its files are in a directory of its own under /tmp, which
    its user (postgres, when started as root: it refuses to run as root) can reach. With
    socket_dir it also listens on a Unix socket there (.s.PGSQL.<port>)."""
    if MISSING:
        raise RuntimeError(MISSING)
    where = Path(tempfile.mkdtemp(prefix="farmchat-pgbouncer-"))
    port = _free_port()
    (where / "users.txt").write_text('"postgres" ""\n')
    if socket_dir is not None and os.geteuid() == 0:
        shutil.chown(socket_dir, "postgres")
    (where / "pgbouncer.ini").write_text(
        "[databases]\n"
        "* = host=127.0.0.1 port=5432\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir = {socket_dir or ''}\n"
        f"auth_type = trust\nauth_file = {where / 'users.txt'}\n"
        f"pool_mode = transaction\ndefault_pool_size = {pool_size}\nmax_client_conn = 500\n"
    )
    command = [PGBOUNCER, str(where / "pgbouncer.ini")]
    if os.geteuid() == 0:
        for item in [where, *where.iterdir()]:
            shutil.chown(item, "postgres")
        command[1:1] = ["-u", "postgres"]
    log_path = where / "pgbouncer.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while "listening on" not in log_path.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"pgbouncer did not start:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(where, ignore_errors=True)
