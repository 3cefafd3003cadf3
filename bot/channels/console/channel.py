"""Console channel: talk to the bot as any user; /as switches user mid-session."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import uuid
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import TextIO

from bot.channels.addresses import e164
from bot.gateway import Gateway, utcnow
from handlers.messages import InboundMessage

CHANNEL = "console"
BANNER = (
    "farmchat console - you are {who}. Type a message; /as +254700000002 switches user, "
    "/quit ends."
)


def line_editing(stdin: TextIO | None = None) -> ModuleType | None:
    """GNU readline (or libedit) for input() when the input is a terminal: arrow keys move
    and recall earlier lines. None where it is not a terminal, or the platform has none."""
    if not (stdin or sys.stdin).isatty():
        return None
    try:
        import readline
    except ImportError:  # Windows, or a Python built without it
        return None
    return readline


def _tty_modes() -> list | None:
    """The terminal's settings (termios), where the input is a terminal that has them."""
    if not sys.stdin.isatty():
        return None
    try:
        import termios
    except ImportError:  # not POSIX
        return None
    try:
        return termios.tcgetattr(sys.stdin.fileno())
    except termios.error:
        return None


class Terminal:
    """The console's screen: lines are read with line editing where there is a terminal, and
    a message sent while a line is being typed is printed above it, the line kept."""

    def __init__(self, out: TextIO | None = None):
        self.out = out or sys.stdout
        self.readline = line_editing()
        self.prompt: str | None = None  # while a line is being read
        self._modes = _tty_modes()

    async def read(self, prompt: str) -> str | None:
        """The next line, None at the end of input. It is read in a thread of its own that
        nothing waits for, so Ctrl-C ends the console at once, mid-line too."""
        loop = asyncio.get_running_loop()
        line: asyncio.Future[str | None] = loop.create_future()

        def give(value: str | None, error: BaseException | None) -> None:
            if line.done():
                return
            if error is not None:
                line.set_exception(error)
            else:
                line.set_result(value)

        def work() -> None:
            value, error = None, None
            try:
                value = input(prompt)
            except EOFError:
                pass
            except Exception as exc:
                error = exc
            with contextlib.suppress(RuntimeError):  # the loop is gone (Ctrl-C meanwhile)
                loop.call_soon_threadsafe(give, value, error)

        self.prompt = prompt
        threading.Thread(target=work, name="farmchat-console-input", daemon=True).start()
        try:
            return await line
        finally:
            self.prompt = None

    def restore(self) -> None:
        """The terminal's settings as they were: a line cut off while readline edited it would
        leave the terminal without echo."""
        if self._modes is None:
            return
        import termios

        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self._modes)

    def write(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def notify(self, text: str) -> None:
        """A message for another user, printed as it is sent."""
        if self.prompt is None or not self.out.isatty():
            self.write(text)
            return
        typed = self.readline.get_line_buffer() if self.readline is not None else ""
        self.out.write(f"\r\x1b[K{text}\n{self.prompt}{typed}")  # erase the line, print, redraw
        self.out.flush()


async def chat(
    gateway: Gateway,
    address: str,
    write: Callable[[str], None] = print,
    read: Callable[[str], Awaitable[str | None]] | None = None,
) -> None:
    """Read lines until /quit or end of input (from the terminal unless `read` is given);
    print the reply to each."""
    read = read or Terminal().read
    write(BANNER.format(who=address))
    while True:
        line = await read(f"{address}> ")
        if line is None or line.strip() in ("/quit", "/exit"):
            return
        if line.startswith("/as"):
            address = _switch(line, address, write)
            continue
        msg = InboundMessage(
            channel=CHANNEL,
            sender=address,
            text=line,
            message_id=uuid.uuid4().hex,
            received_at=utcnow(),
        )
        write(f"bot: {await gateway.handle(msg)}")


def _switch(line: str, current: str, write: Callable[[str], None]) -> str:
    try:
        address = e164(line[3:])
    except ValueError as exc:
        write(f"(not switched: {exc})")
        return current
    write(f"(you are now {address})")
    return address
