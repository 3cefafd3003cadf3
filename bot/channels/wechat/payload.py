"""WeChat's XML: parsed with defusedxml, rendered with CDATA that user text cannot break.

wechatpy renders CDATA without escaping `]]>` and parses with plain xmltodict (CHANNELS.md A3).
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

# Characters XML 1.0 cannot carry at all, even in CDATA.
NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
MAX_REPLY_BYTES = 2000  # WeChat cuts text replies at 2048 bytes


class XmlError(Exception):
    """Not a WeChat XML document (malformed, a DTD or entities, no <xml> root)."""


def parse(body: bytes | str) -> dict[str, str]:
    """<xml><Tag>value</Tag>…</xml> → {Tag: value}; nested tags are flattened one level."""
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise XmlError(f"not acceptable XML: {type(exc).__name__}") from None
    if root.tag != "xml":
        raise XmlError("the root element must be <xml>")
    fields = {}
    for child in root:
        for node in (child, *child) if len(child) else (child,):
            if len(node) == 0:
                fields[node.tag] = node.text or ""
    return fields


def cdata(value: str) -> str:
    """A CDATA section holding value exactly; `]]>` is split across two sections."""
    value = NOT_XML.sub("", value)
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render(fields: list[tuple[str, str | int]]) -> str:
    """<xml> with strings in CDATA and integers bare, in the order given."""
    parts = [
        f"<{tag}>{value}</{tag}>" if isinstance(value, int) else f"<{tag}>{cdata(value)}</{tag}>"
        for tag, value in fields
    ]
    return "<xml>" + "".join(parts) + "</xml>"


def fit_bytes(text: str, limit: int = MAX_REPLY_BYTES) -> str:
    """Cut text to at most limit UTF-8 bytes, on a character boundary."""
    data = text.encode()
    return text if len(data) <= limit else data[:limit].decode("utf-8", "ignore")


def text_reply(to_user: str, from_account: str, content: str, now: int | None = None) -> str:
    """A passive text reply: the ids swapped, CreateTime now (CHANNELS.md A3)."""
    return render(
        [
            ("ToUserName", to_user),
            ("FromUserName", from_account),
            ("CreateTime", int(now or time.time())),
            ("MsgType", "text"),
            ("Content", fit_bytes(content)),
        ]
    )


def envelope(encrypt: str, signature: str, timestamp: str, nonce: str) -> str:
    """The safe-mode reply envelope, as wechatpy and WeRoBot write it."""
    return render(
        [
            ("Encrypt", encrypt),
            ("MsgSignature", signature),
            ("TimeStamp", int(timestamp)),
            ("Nonce", nonce),
        ]
    )


def new_nonce() -> str:
    return str(secrets.randbelow(10**9) + 10**8)


def msg_id(text: str) -> bool:
    """Whether text is a MsgId as WeChat writes one: a 64-bit integer in decimal digits (A2)."""
    return text.isascii() and text.isdigit() and len(text) <= 20 and int(text) < 2**64


@dataclass(frozen=True)
class Push:
    """One message or event WeChat pushed, reduced to what farmchat uses."""

    account: str  # ToUserName, the Official Account's gh_ id
    openid: str  # FromUserName
    create_time: int
    kind: str  # MsgType, lowercase
    fields: dict

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> Push:
        try:
            push = cls(
                fields["ToUserName"],
                fields["FromUserName"],
                int(fields["CreateTime"]),
                fields["MsgType"].lower(),
                fields,
            )
        except (KeyError, ValueError):
            raise XmlError(
                "ToUserName, FromUserName, CreateTime and MsgType are required"
            ) from None
        if not push.openid or not push.account or len(push.openid) > 128:
            raise XmlError("empty or oversized user id")
        if not 0 <= push.create_time < 2**32:  # Unix seconds; more would overflow a datetime
            raise XmlError("CreateTime out of range")
        if not all(msg_id(fields[name]) for name in ("MsgId", "MsgID") if name in fields):
            raise XmlError("MsgId is not a 64-bit integer")
        return push

    @property
    def event(self) -> str:
        return self.fields.get("Event", "").lower() if self.kind == "event" else ""

    @property
    def event_key(self) -> str:
        return self.fields.get("EventKey", "")

    @property
    def message_id(self) -> str:
        """MsgId for messages; FromUserName|CreateTime|Event|EventKey for events (A3)."""
        if self.kind != "event" and self.fields.get("MsgId"):
            return self.fields["MsgId"]
        return f"{self.openid}|{self.create_time}|{self.event or self.kind}|{self.event_key}"[:128]
