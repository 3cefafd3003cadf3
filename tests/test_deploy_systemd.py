"""deploy/farmchat.service: the settings a deploy relies on, systemd's own checks of the file,
and its ExecStart run by hand in the sandbox its hardening makes (no systemd runs here)."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import errno
import inspect
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "deploy" / "farmchat.service"
ENV_EXAMPLE = ROOT / "deploy" / "env.example"
VENV = Path(sys.prefix)  # the venv running the tests stands for /opt/farmchat/.venv
SHIPPED_VENV, SHIPPED_CONFIG = "/opt/farmchat/.venv", "/etc/farmchat/config.yaml"
SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"
TOKEN, SID, NUMBER = "deploy-systemd-auth-token-0123", "AC" + "4" * 32, "+15005550006"
FARMER = "+8613800000041"

Unit = dict[str, list[tuple[str, str]]]


def read_unit(path: Path) -> Unit:
    """A unit file's sections as (key, value) pairs in order (a key may repeat)."""
    sections: Unit = {}
    current: list[tuple[str, str]] | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        assert not line.endswith("\\"), f"{path.name}: no continued lines here: {raw!r}"
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, sep, value = line.partition("=")
        assert current is not None and sep, f"{path.name}: not a unit file line: {raw!r}"
        current.append((key.strip(), value.strip()))
    return sections


def values(unit: Unit, key: str, section: str = "Service") -> list[str]:
    return [v for k, v in unit.get(section, []) if k == key]


def value(unit: Unit, key: str, section: str = "Service") -> str:
    found = values(unit, key, section)
    assert found, f"{UNIT.name} sets no {key}= in [{section}]"
    return found[-1]


def seconds(text: str) -> float:
    """A systemd time span: 150, 150s, 2min 30s."""
    units = {"": 1, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", text)
    assert parts, f"not a time span: {text!r}"
    return sum(float(n) * units[u] for n, u in parts)


def test_the_unit_runs_serve_restarts_it_and_stops_it_gracefully():
    from bot import cli
    from bot.supervisor import CANCELLED_SECONDS, STOP_TIMEOUT

    unit = read_unit(UNIT)
    assert value(unit, "Type") in ("simple", "exec")  # farmchat does not speak sd_notify
    assert value(unit, "User") == "farmchat"
    assert value(unit, "EnvironmentFile") == "/etc/farmchat/env"
    argv = shlex.split(value(unit, "ExecStart"))
    assert argv[0] == SHIPPED_VENV + "/bin/farmchat" and argv[-1] == "serve", argv
    assert argv[1:3] == ["--config", SHIPPED_CONFIG]
    assert value(unit, "Restart") == "on-failure"
    assert "2" in value(unit, "RestartPreventExitStatus").split()  # a wrong setting
    # SIGTERM to the main process alone: with server.workers the supervisor forwards it once
    assert value(unit, "KillMode") == "mixed"
    found = re.search(r"shutdown_timeout=(\d+)", inspect.getsource(cli._serve))
    assert found, "bot/cli.py's serve no longer passes shutdown_timeout= to run_app"
    # open requests, the background work, what it cut off, the notification pushes' drain
    needed = int(found.group(1)) + STOP_TIMEOUT + CANCELLED_SECONDS + 30
    assert seconds(value(unit, "TimeoutStopSec")) > needed
    assert value(unit, "WantedBy", "Install") == "multi-user.target"


def test_the_unit_is_hardened_and_may_write_only_its_data_directory():
    unit = read_unit(UNIT)
    expected = {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes",
        "CapabilityBoundingSet": "",
        "RestrictNamespaces": "yes",
        "RestrictSUIDSGID": "yes",
    }
    assert {key: value(unit, key) for key in expected} == expected
    families = set(value(unit, "RestrictAddressFamilies").split())
    assert families == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert values(unit, "SystemCallFilter")[0] == "@system-service"
    work = value(unit, "WorkingDirectory")
    state = ["/var/lib/" + d for d in value(unit, "StateDirectory").split()]
    assert work in state and work in value(unit, "ReadWritePaths").split()


def test_the_env_example_names_every_secret():
    from bot.config import SECRETS, env_name

    text = ENV_EXAMPLE.read_text()
    names = set(re.findall(r"^#?(FARMCHAT_[A-Z_]+)=", text, flags=re.MULTILINE))
    assert {env_name(key) for key in SECRETS} <= names
    assert names - {env_name(key) for key in SECRETS} == {"FARMCHAT_DATABASE__URL"}


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if not found:
        pytest.skip("systemd-analyze not installed (Debian's systemd package); nothing checked")
    return found


def shipped_unit_here(directory: Path) -> Path:
    """The unit with this venv's farmchat (systemd-analyze checks that the command exists)."""
    text = UNIT.read_text()
    assert SHIPPED_VENV in text
    path = directory / "farmchat.service"
    path.write_text(text.replace(SHIPPED_VENV, str(VENV)))
    return path


def test_systemd_analyze_verifies_the_unit_and_rates_its_exposure(tmp_path):
    analyze = systemd_analyze()
    unit = shipped_unit_here(tmp_path)
    verified = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    # verify exits 0 on an unknown key or a bad value too: it only says so
    assert (verified.returncode, verified.stdout + verified.stderr) == (0, "")
    rated = subprocess.run(
        [analyze, "security", "--offline=true", "--threshold=20", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rated.returncode == 0, rated.stdout[-2000:] + rated.stderr  # exposure 2.0 at most


# The sandbox: what systemd applies before it executes ExecStart, made here without systemd --
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_EQ, SCMP_CMP_GT, SCMP_CMP_MASKED_EQ = 4, 6, 7
PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
PROT_WRITE, PROT_EXEC, SHM_EXEC = 0x2, 0x4, 0o100000
AF_UNIX, AF_INET, AF_INET6 = 1, 2, 10


def scmp_errno(code: int) -> int:
    return 0x00050000 | code


class ArgCmp(ctypes.Structure):
    """libseccomp's struct scmp_arg_cmp."""

    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


class Seccomp:
    """The few libseccomp calls a filter needs, through ctypes (libseccomp2 comes with apt)."""

    def __init__(self, library: str):
        self.lib = ctypes.CDLL(library, use_errno=True)
        self.lib.seccomp_init.restype = ctypes.c_void_p
        self.lib.seccomp_init.argtypes = [ctypes.c_uint32]
        self.lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        self.lib.seccomp_rule_add_array.argtypes = [
            ctypes.c_void_p,
            ctypes.c_uint32,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.POINTER(ArgCmp),
        ]
        self.lib.seccomp_load.argtypes = [ctypes.c_void_p]

    def filter(self, default: int, rules: list[tuple[int, str, list[ArgCmp]]]) -> int:
        ctx = self.lib.seccomp_init(default)
        for action, name, cmps in rules:
            number = self.lib.seccomp_syscall_resolve_name(name.encode())
            if number < 0:  # a name this libseccomp does not know (a newer systemd's)
                continue
            array = (ArgCmp * max(1, len(cmps)))(*cmps)
            code = self.lib.seccomp_rule_add_array(ctx, action, number, len(cmps), array)
            if code < 0:
                raise OSError(-code, f"seccomp rule for {name}")
        return ctx

    def load(self, ctx: int) -> None:
        code = self.lib.seccomp_load(ctx)  # sets no_new_privs first: NoNewPrivileges=yes
        if code < 0:
            raise OSError(-code, "seccomp_load")


def hardening_filters(seccomp: Seccomp) -> int:
    """MemoryDenyWriteExecute= and RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX as
    systemd 252 builds them (src/shared/seccomp-util.c)."""
    exec_only = [ArgCmp(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC)]
    wx = PROT_WRITE | PROT_EXEC
    eperm, eafnosupport = scmp_errno(errno.EPERM), scmp_errno(errno.EAFNOSUPPORT)
    rules = [
        (eperm, "mmap", [ArgCmp(2, SCMP_CMP_MASKED_EQ, wx, wx)]),
        (eperm, "mprotect", exec_only),
        (eperm, "pkey_mprotect", exec_only),
        (eperm, "shmat", [ArgCmp(2, SCMP_CMP_MASKED_EQ, SHM_EXEC, SHM_EXEC)]),
        (eafnosupport, "socket", [ArgCmp(0, SCMP_CMP_GT, AF_INET6, 0)]),
    ]
    for family in set(range(AF_INET6)) - {AF_UNIX, AF_INET}:
        rules.append((eafnosupport, "socket", [ArgCmp(0, SCMP_CMP_EQ, family, 0)]))
    return seccomp.filter(SCMP_ACT_ALLOW, rules)


def exec_sandboxed() -> None:
    """`python -c` entry: argv is [allowed system calls (JSON file), command...]. Applies the
    unit's seccomp filters and prctl(PR_SET_MDWE) (systemd 254 and later use it for
    MemoryDenyWriteExecute=), then executes the command with PYTHONPATH dropped."""
    allowed_file, *command = sys.argv[1:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_MDWE)")
    seccomp = Seccomp(ctypes.util.find_library("seccomp") or "libseccomp.so.2")
    allowed = json.loads(Path(allowed_file).read_text())
    hardening = hardening_filters(seccomp)
    syscalls = seccomp.filter(
        scmp_errno(errno.EPERM), [(SCMP_ACT_ALLOW, name, []) for name in allowed]
    )
    seccomp.load(hardening)  # first: loading one more filter is not an allowed system call
    seccomp.load(syscalls)
    os.environ.pop("PYTHONPATH", None)
    os.execv(command[0], command)


def syscall_groups(analyze: str) -> dict[str, list[str]]:
    """`systemd-analyze syscall-filter`: every group (@name) with its members."""
    listing = subprocess.run(
        [analyze, "syscall-filter"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    groups: dict[str, list[str]] = {}
    members: list[str] | None = None
    for line in listing.splitlines():
        if line.startswith("@"):
            members = groups.setdefault(line.strip(), [])
        elif not line.strip():
            members = None
        elif members is not None and not line.strip().startswith("#"):
            members.append(line.strip())
    return groups


def allowed_syscalls(analyze: str, filters: list[str]) -> set[str]:
    """The system calls the unit's SystemCallFilter= lines leave allowed, in their order."""
    groups = syscall_groups(analyze)

    def expand(name: str) -> set[str]:
        if not name.startswith("@"):
            return {name}
        return {call for member in groups[name] for call in expand(member)}

    allowed: set[str] = set()
    for line in filters:
        deny = line.startswith("~")
        names = {call for name in line.removeprefix("~").split() for call in expand(name)}
        allowed = allowed - names if deny else allowed | names
    return allowed


# What the sandbox must refuse: memory both writable and executable, a netlink socket, setuid;
# and prctl(PR_GET_MDWE) says the kernel's own refusal is on too.
REFUSED = """
import ctypes, errno, mmap, os, socket
print("mdwe" if ctypes.CDLL(None).prctl(66, 0, 0, 0, 0) == 1 else "no-mdwe")
for attempt in (
    lambda: mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC),
    lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW),
    lambda: os.setuid(os.getuid()),
):
    try:
        attempt()
        print("allowed")
    except OSError as exc:
        print(errno.errorcode[exc.errno])
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment_file(path: Path) -> dict[str, str]:
    """systemd's EnvironmentFile= reading of the simple lines written here."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key.strip(): val.strip() for key, val in pairs if not key.startswith(("#", ";"))}


def sandbox_state(proc: subprocess.Popen) -> dict[str, str]:
    status = Path(f"/proc/{proc.pid}/status").read_text()
    return dict(re.findall(r"^(Seccomp|NoNewPrivs):\s*(\d+)$", status, flags=re.MULTILINE))


async def workers_seen(port: int, proc: subprocess.Popen) -> set[int]:
    """The worker ids that answer /livez on fresh connections, once both of two answer."""
    seen: set[int] = set()
    timeout = aiohttp.ClientTimeout(total=5)
    deadline = time.monotonic() + 90  # start-up, then enough connections to meet both workers
    while time.monotonic() < deadline:
        assert proc.poll() is None, "farmchat serve ended while starting"
        try:
            async with (
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http,
                http.get(f"http://127.0.0.1:{port}/livez", timeout=timeout) as resp,
            ):
                seen.add((await resp.json())["worker"])
        except (TimeoutError, aiohttp.ClientError):
            await asyncio.sleep(0.1)
        if seen == {0, 1}:
            break
    return seen


def launch(unit: Unit, state: Path, etc: Path, sandbox: list[str], log: Path) -> subprocess.Popen:
    """ExecStart as systemd runs it: its command line with this machine's paths, in
    WorkingDirectory, with only systemd's PATH, Environment= and the EnvironmentFile; its
    output to a file (the journal), never a pipe nobody reads while it runs."""
    command = value(unit, "ExecStart")
    assert SHIPPED_VENV in command and SHIPPED_CONFIG in command
    command = command.replace(SHIPPED_VENV, str(VENV))
    command = command.replace(SHIPPED_CONFIG, str(etc / "config.yaml"))
    env = {"PATH": SYSTEMD_PATH, "LANG": "C.UTF-8", "HOME": str(state)}
    for line in values(unit, "Environment"):
        env.update(pair.partition("=")[::2] for pair in shlex.split(line))
    env.update(environment_file(etc / "env"))
    with log.open("wb") as out:
        return subprocess.Popen(
            [*sandbox, *shlex.split(command)],
            cwd=state,
            env={**env, "PYTHONPATH": str(ROOT)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: what is left is killed, as KillMode=mixed
        )


async def test_exec_start_serves_two_workers_in_the_units_sandbox_and_stops_on_sigterm(
    tmp_path, nlu_cache, real_nlu
):
    from bot.fakes.twilio import inbound_fields, post_inbound

    unit = read_unit(UNIT)
    analyze = systemd_analyze()
    library = ctypes.util.find_library("seccomp")
    if library is None:
        pytest.skip("libseccomp (Debian's libseccomp2) not found: the sandbox cannot be made")
    allowed = allowed_syscalls(analyze, values(unit, "SystemCallFilter"))
    assert {"execve", "flock", "mmap", "socket"} <= allowed and "setuid" not in allowed
    (tmp_path / "allowed.json").write_text(json.dumps(sorted(allowed)))
    sandbox = [
        sys.executable,
        "-c",
        "from tests.test_deploy_systemd import exec_sandboxed; exec_sandboxed()",
        str(tmp_path / "allowed.json"),
    ]
    refused = subprocess.run(
        [*sandbox, sys.executable, "-c", REFUSED], capture_output=True, text=True, timeout=60
    )
    assert refused.stdout.split() == ["mdwe", "EPERM", "EAFNOSUPPORT", "EPERM"], refused.stderr
    state, etc, port = tmp_path / "var-lib-farmchat", tmp_path / "etc-farmchat", free_port()
    state.mkdir()
    etc.mkdir()
    shutil.copy(ROOT / "config.yaml", etc / "config.yaml")
    settings = {
        "FARMCHAT_SERVER__PORT": str(port),
        "FARMCHAT_SERVER__WORKERS": "2",
        "FARMCHAT_SERVER__PUBLIC_URL": f"http://127.0.0.1:{port}",
        "FARMCHAT_NLU__CACHE_DIR": nlu_cache,  # trained once for the session (real_nlu)
        "FARMCHAT_TWILIO__ACCOUNT_SID": SID,
        "FARMCHAT_TWILIO__AUTH_TOKEN": TOKEN,
        "FARMCHAT_TWILIO__FROM_NUMBER": NUMBER,
        "FARMCHAT_TWILIO__API_BASE": "http://127.0.0.1:9",  # nothing is sent in this test
    }
    (etc / "env").write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    log = tmp_path / "journal.log"
    proc = launch(unit, state, etc, sandbox, log)
    try:
        assert await workers_seen(port, proc) == {0, 1}
        assert sandbox_state(proc) == {"Seccomp": "2", "NoNewPrivs": "1"}
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            async with http.post(base + "/model/parse", json={"text": "卖50斤苹果"}) as resp:
                assert resp.status == 200
                assert (await resp.json())["intent"]["name"] == "sell"
            fields = inbound_fields(FARMER, NUMBER, "卖50斤苹果 三块五一斤")
            status, xml = await post_inbound(http, base + "/webhooks/twilio", TOKEN, fields)
            assert (status, "已发布" in xml) == (200, True), xml
        assert (state / "farmchat.db").is_file()  # config.yaml's relative paths: the data dir
        proc.send_signal(signal.SIGTERM)  # what systemctl stop does with KillMode=mixed
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:  # all of its group, as KillMode=mixed does after the timeout
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        print(log.read_text()[-5000:])  # shown when the test fails
    output = log.read_text()
    assert code == 0, output
    assert "with 2 workers" in output, output
    for trouble in ("Traceback", "Operation not permitted", "Bad system call"):
        assert trouble not in output, output
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0  # no worker left behind
