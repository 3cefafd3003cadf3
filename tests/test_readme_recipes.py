"""The "Try it locally" recipes of docs/channels.md (the README's Channels section points there),
run as printed: the shell block under each heading, in bash, in a working directory laid out
as a fresh clone's (config.yaml, the virtualenv at .venv), with its background servers killed
at the end; and the phone commands they use, which wait for farmchat before texting it."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from bot.app import create_app
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "channels.md"
PORTS = (8080, 8089, 8090)  # the recipes' farmchat, fake Twilio and fake WeChat
RECIPE_SECONDS = 240  # the whole block, farmchat's start included
SETTLE_SECONDS = 30  # pushes that follow the last reply


def shell_block(heading: str) -> str:
    """The first ```sh block in the section under `heading` (up to the next heading of the
    same or a higher level)."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = lines.index(heading)
    level = len(heading) - len(heading.lstrip("#"))
    block: list[str] | None = None
    for line in lines[start + 1 :]:
        if block is None and re.match(rf"#{{1,{level}}} ", line):
            break
        if block is None and line.strip() == "```sh":
            block = []
        elif block is not None and line.strip() == "```":
            return "\n".join(block) + "\n"
        elif block is not None:
            block.append(line)
    raise AssertionError(f"no sh block under {heading!r} in {DOC}")


def port_free(port: int) -> bool:
    """Nothing holds the port (connections of a server gone, in TIME_WAIT, do not count: a
    server binds with SO_REUSEADDR, as aiohttp does)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fresh_shell_env(**extra: str) -> dict[str, str]:
    """A user's shell: no farmchat settings of the test run's, the repository importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FARMCHAT_")}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


@pytest.fixture
def clone(tmp_path: Path, nlu_cache: str, real_nlu) -> Path:
    """A working directory as a fresh clone has it (its database is made on the first start)."""
    (tmp_path / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    return tmp_path


class Shell:
    """bash running a recipe in a session of its own, its output collected as it comes."""

    def __init__(self, script: str, cwd: Path, env: dict[str, str]):
        self.proc = subprocess.Popen(
            ["bash", "-c", script],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the recipe's background jobs share its process group
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.append(raw.decode("utf-8", "replace"))

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, texts: list[str], seconds: float) -> None:
        """Until every text has been printed (bounded)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not all(t in self.output for t in texts):
            time.sleep(0.2)

    def kill(self) -> None:
        """End the shell and everything it started (TERM, then KILL), and the output's end."""
        group = self.proc.pid
        for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and _group_alive(group):
                time.sleep(0.1)
            if not _group_alive(group):
                break
        self.proc.wait(timeout=5)
        self._reader.join(timeout=5)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def run_recipe(heading: str, cwd: Path, env: dict[str, str], expect: list[str]) -> str:
    """Run the block under heading; once the shell is done, wait for what a user would read."""
    busy = [port for port in PORTS if not port_free(port)]
    if busy:
        pytest.skip(f"the recipe uses fixed ports and {busy} are taken on this machine")
    shell = Shell(shell_block(heading), cwd, env)
    try:
        code = shell.proc.wait(timeout=RECIPE_SECONDS)
        shell.wait_for(expect, SETTLE_SECONDS)
    finally:
        shell.kill()
    out = shell.output
    assert code == 0, out
    for text in expect:
        assert text in out, f"{text!r} never printed:\n{out}"
    assert "Traceback" not in out and "ClientConnectorError" not in out, out
    assert all(port_free(port) for port in PORTS), "a server outlived the recipe"
    return out


def test_the_fake_twilio_recipe_trades_by_sms_as_printed(clone, nlu_cache):
    out = run_recipe(
        "### Try it locally with the fake Twilio",
        clone,
        fresh_shell_env(FARMCHAT_NLU__CACHE_DIR=nlu_cache),
        [
            "已发布",  # the farmer's listing, answered in the webhook
            "1) 50 jin at ¥3.50/jin",  # the buyer's offers
            "Waiting for the farmer to accept",
            "→ +8613800000001: 新订单",  # the fake Twilio's SMS to the farmer
            "已接受订单",
            "→ +254700000002: Order",  # and to the buyer, once accepted
        ],
    )
    ordered = re.search(r"Order (\d+): 20 jin apple", out)
    assert ordered, out
    assert f"→ +254700000002: Order {ordered.group(1)} accepted!" in out
    assert (clone / "farmchat.db").exists()  # the clone's own database, made on the first start


def test_the_fake_wechat_recipe_trades_by_wechat_as_printed(clone, nlu_cache):
    run_recipe(
        "### Try it locally with the fake WeChat",
        clone,
        fresh_shell_env(FARMCHAT_NLU__CACHE_DIR=nlu_cache),
        [
            "已发布",  # the farmer's passive reply
            "苹果货源",  # the buyer's offers
            "等待农户确认",  # the buyer's order
            "custom → oFarmer1: {'content': '新订单",  # the farmer told by customer service
        ],
    )


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env=fresh_shell_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    "fake, path", [("fake-twilio", "/webhooks/twilio"), ("fake-wechat", "/webhooks/wechat")]
)
def test_a_phone_with_no_farmchat_to_text_says_so_after_its_wait(fake, path):
    url = f"http://127.0.0.1:{free_port()}{path}"
    started = time.monotonic()
    done = run_cli(fake, "send", "--url", url, "--wait", "1", "hello")
    assert done.returncode == 1 and time.monotonic() - started < 30
    assert "farmchat did not answer at" in done.stderr and "/readyz" in done.stderr
    assert "is `farmchat serve` running there?" in done.stderr
    assert "Traceback" not in done.stderr


async def test_a_phone_started_before_farmchat_waits_for_it(sqlite_url, nlu_cache, real_nlu):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    phone = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "fake-twilio",
        "send",
        "--url",
        f"{url}/webhooks/twilio",
        "--auth-token",
        "phone-token",
        "--from",
        "+8613800000001",
        "卖50斤苹果 三块五一斤",
        "my listings",
        env=fresh_shell_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        await asyncio.sleep(2)  # the phone is up and finds nothing listening
        assert phone.returncode is None
        settings = make_settings(
            sqlite_url,
            nlu_cache,
            FARMCHAT_TWILIO__ACCOUNT_SID="AC" + "0" * 32,
            FARMCHAT_TWILIO__AUTH_TOKEN="phone-token",
            FARMCHAT_TWILIO__FROM_NUMBER="+15005550006",
            FARMCHAT_SERVER__PUBLIC_URL=url,
        )
        server = TestServer(create_app(settings, nlu=real_nlu), host="127.0.0.1", port=port)
        await server.start_server()
        try:
            out, _ = await asyncio.wait_for(phone.communicate(), 60)
        finally:
            await server.close()
    finally:
        if phone.returncode is None:
            phone.kill()
            await phone.wait()
    text = out.decode()
    assert phone.returncode == 0, text
    listed = re.search(r"已发布(\d+)号：苹果50斤，¥3.50/斤", text)
    assert listed, text
    mine = text[listed.end() :].split("\n", 2)[-1]  # the second reply: the farmer's listings
    assert listed.group(1) in mine and "apple" in mine, text
