"""Logging setup; phone numbers (and WeChat openids in URLs) are masked in every log line."""

from __future__ import annotations

import logging
import re

PHONE = re.compile(r"\+?\d[\d ]{6,16}\d")
OPENID = re.compile(r"(?<=openid=)[\w-]+")  # WeChat user ids in webhook URLs (access log)


def mask(address: str) -> str:
    """'+8613800000001' → '+86138*****01'; short or non-phone addresses keep 4 characters."""
    if len(address) <= 6:
        return "*" * len(address)
    keep_head = 6 if address.startswith("+") else 4
    return address[:keep_head] + "*" * (len(address) - keep_head - 2) + address[-2:]


class MaskPhones(logging.Filter):
    """Masks anything that looks like a phone number in the formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = PHONE.sub(lambda m: mask(m.group(0)), message)
        masked = OPENID.sub(lambda m: mask(m.group(0)), masked)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


def setup(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskPhones())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if level != "DEBUG":
        logging.getLogger("alembic").setLevel(logging.WARNING)
