"""Hosts of their own on one machine: Linux network namespaces, each joined to this one by a
veth pair, made here and removed after (`ip netns add`, iproute2; root).

Each host has its own network stack: its own loopback, its own address and the same port as
every other host. The load generator and the fake providers stay in this namespace and reach a
host at its address; a host reaches them at the address of its pair's outer end. PostgreSQL is
reached over its Unix socket (the namespaces share the file system; its TCP port listens on
this namespace's loopback only), so no server setting of the machine changes.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

from sqlalchemy.engine import URL, make_url

PG_SOCKET_DIR = "/var/run/postgresql"


@dataclass(frozen=True)
class Namespace:
    name: str
    inside: str  # the host's own address
    outside: str  # this namespace's end of the pair: where the host finds the machine

    def command(self, *argv: str) -> list[str]:
        """argv run inside the namespace (`ip netns exec` replaces itself with it)."""
        return ["ip", "netns", "exec", self.name, *argv]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@functools.cache
def missing() -> str | None:
    """Why namespaces cannot be made here, or None."""
    if shutil.which("ip") is None:
        return "iproute2's ip is not installed"
    if os.geteuid() != 0:
        return "making network namespaces needs root"
    if not os.path.isdir(PG_SOCKET_DIR):
        return f"no PostgreSQL socket directory {PG_SOCKET_DIR}"
    probe = f"fcprobe{os.getpid()}"
    try:
        _ip("netns", "add", probe)
    except (subprocess.CalledProcessError, OSError) as exc:
        return f"ip netns add failed: {exc}"
    _ip("netns", "del", probe)
    return None


def _free_block() -> ipaddress.IPv4Network:
    """A /16 in 10.0.0.0/8 that no interface of this machine uses (the pid picks the first
    one tried, so two runs at once seldom meet)."""
    used = subprocess.run(
        ["ip", "-o", "-4", "addr"], capture_output=True, text=True, check=True
    ).stdout
    for step in range(200):
        block = ipaddress.IPv4Network(f"10.{(os.getpid() + step) % 200 + 50}.0.0/16")
        if f" 10.{block.network_address.packed[1]}." not in used:
            return block
    raise RuntimeError("no free 10.x.0.0/16 for the namespaces")


@contextlib.contextmanager
def namespaces(count: int) -> Iterator[list[Namespace]]:
    """count namespaces, each with a veth pair to this one, removed on the way out."""
    block = _free_block()
    made: list[Namespace] = []
    tag = f"{os.getpid() % 100000}"
    try:
        for n in range(1, count + 1):
            net = list(block.subnets(new_prefix=24))[n]
            outside, inside = str(net.network_address + 1), str(net.network_address + 2)
            ns = Namespace(f"farmchat-{tag}-{n}", inside, outside)
            outer, inner = f"fco{tag}{n}", f"fci{tag}{n}"
            _ip("netns", "add", ns.name)
            made.append(ns)
            _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
            _ip("link", "set", inner, "netns", ns.name)
            _ip("addr", "add", f"{outside}/24", "dev", outer)
            _ip("link", "set", outer, "up")
            inside_ip = ["-n", ns.name]
            _ip(*inside_ip, "addr", "add", f"{inside}/24", "dev", inner)
            _ip(*inside_ip, "link", "set", inner, "up")
            _ip(*inside_ip, "link", "set", "lo", "up")
        yield made
    finally:
        for ns in made:
            # deleting the namespace deletes its end of the pair, and with it the other end
            subprocess.run(["ip", "netns", "del", ns.name], capture_output=True, timeout=30)


def over_socket(url: str, directory: str = PG_SOCKET_DIR, port: int | None = None) -> str:
    """A PostgreSQL URL reached over a Unix socket (the server's, or PgBouncer's in directory
    with its port) instead of TCP."""
    parsed = make_url(url)
    base = URL.create(
        parsed.drivername, parsed.username, parsed.password, None, port, parsed.database
    )
    query = urlencode({**parsed.query, "host": directory})
    return f"{base.render_as_string(hide_password=False)}?{query}"
