"""Logging setup: no log line shows a whole phone number or WeChat OpenID, tracebacks included,
nor the values a failed SQL statement was given (users' numbers and what they wrote)."""

from __future__ import annotations

import logging
import re
from typing import TextIO

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# What identifies a user: +E.164 (also URL-encoded: %2B…); a Chinese mobile number without
# +86 (1[3-9] and 9 more digits, but not a nonce= or timestamp= value); a WeChat OpenID (28
# URL-safe characters from "o" with a capital or a digit, e.g. oUpF8uMuAJO_M2pxb1Q9zNjWeS6o);
# any openid= value in a URL. Each is bounded, so that the timestamps, nonces, message ids,
# signatures and byte counts around it are left whole.
PERSONAL = re.compile(
    r"(?:\+|%2[Bb])\d{7,15}(?!\d)"
    r"|(?<![0-9A-Za-z_])(?<!nonce=)(?<!timestamp=)1[3-9]\d{9}(?![0-9A-Za-z_])"
    r"|(?<![\w-])o(?=[\w-]{0,26}[A-Z0-9])[\w-]{27}(?![\w-])"
    r"|(?<=openid=)[^&\s\"']+",
    re.ASCII,
)
# What database errors quote of a statement's values: SQLAlchemy's "[parameters: …]" line
# (storage/db.py hides them too), PostgreSQL's failing row, asyncpg's refused argument.
SQL_VALUES = (
    (re.compile(r"^\[parameters: .*$", re.MULTILINE), "[parameters hidden]"),
    (re.compile(r"(Failing row contains )\(.*\)"), r"\1(...)"),
    (re.compile(r"(invalid input for query argument \$\d+: ).*"), r"\1..."),
)
TRACEBACKS = logging.Formatter()


def mask(address: str) -> str:
    """'+8613800000001' → '+86138******01'; short or non-phone addresses keep 4 characters."""
    if len(address) <= 6:
        return "*" * len(address)
    keep_head = 6 if address.startswith("+") else 4
    return address[:keep_head] + "*" * (len(address) - keep_head - 2) + address[-2:]


def mask_in(text: str, address: str) -> str:
    """text with address masked wherever it occurs (a WeChat event's key holds the OpenID)."""
    return text.replace(address, mask(address)) if address else text


def _masked(found: re.Match[str]) -> str:
    text = found.group(0)
    if text[:3].upper() == "%2B":
        return text[:3] + mask("+" + text[3:])[1:]
    return mask(text)


def scrub(text: str) -> str:
    """text without SQL values, and with every phone number and OpenID in it masked."""
    for pattern, replacement in SQL_VALUES:
        text = pattern.sub(replacement, text)
    return PERSONAL.sub(_masked, text)


class MaskPhones(logging.Filter):
    """Masks numbers and OpenIDs (and drops SQL values) in a record's message, traceback and
    stack, for whichever handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format: the handler reports it when it formats the record
            return True
        masked = scrub(message)
        if masked != message:
            record.msg, record.args = masked, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


def handler(stream: TextIO | None = None) -> logging.Handler:
    """farmchat's log handler: one line a record (then any traceback), to stderr or stream."""
    out = logging.StreamHandler(stream) if stream is not None else logging.StreamHandler()
    out.setFormatter(logging.Formatter(FORMAT))
    out.addFilter(MaskPhones())
    return out


def setup(level: str = "INFO") -> None:
    root = logging.getLogger()
    root.handlers[:] = [handler()]
    root.setLevel(level)
    # at DEBUG these log every statement's values (and SQLAlchemy its result rows)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    # above DEBUG: APScheduler says at INFO that each run of a job began and ended (the
    # scheduler's sync: two lines every 30 s); its warnings and job errors still show. At
    # DEBUG both say all, whatever an earlier setup set.
    quiet = logging.NOTSET if level == "DEBUG" else logging.WARNING
    logging.getLogger("alembic").setLevel(quiet)
    logging.getLogger("apscheduler").setLevel(quiet)
