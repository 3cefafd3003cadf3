"""SMS segments: GSM-7 or UCS-2, how many segments a text costs, and fitting a reply to 2.

Rules from CHANNELS.md B5: GSM-7 160 per single segment, 153 per concatenated segment,
extension characters take 2 septets; any other character makes the whole text UCS-2 (70 /
67 units, a non-BMP character takes 2 units). A character is never split across segments.
"""

from __future__ import annotations

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")
SINGLE = {"GSM-7": 160, "UCS-2": 70}
MULTI = {"GSM-7": 153, "UCS-2": 67}


def encoding(text: str) -> str:
    return "GSM-7" if all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text) else "UCS-2"


def _cost(ch: str, enc: str) -> int:
    if enc == "GSM-7":
        return 2 if ch in GSM7_EXTENDED else 1
    return 2 if ord(ch) > 0xFFFF else 1


def units(text: str) -> int:
    """Septets (GSM-7) or UTF-16 code units (UCS-2)."""
    enc = encoding(text)
    return sum(_cost(ch, enc) for ch in text)


def segments(text: str) -> int:
    """How many SMS segments text is sent as (0 for an empty text)."""
    enc = encoding(text)
    if not text:
        return 0
    if units(text) <= SINGLE[enc]:
        return 1
    count, used = 1, 0
    for ch in text:
        cost = _cost(ch, enc)
        if used + cost > MULTI[enc]:  # the character moves whole to the next segment
            count, used = count + 1, 0
        used += cost
    return count


def fit(text: str, max_segments: int = 2) -> str:
    """text if it fits; else whole lines dropped from the end, then cut at a word, with '…'."""
    if segments(text) <= max_segments:
        return text
    lines = text.split("\n")
    while len(lines) > 1 and segments("\n".join(lines)) > max_segments:
        lines.pop()
    text = "\n".join(lines)
    if segments(text) <= max_segments:
        return text
    ellipsis = "..." if encoding(text) == "GSM-7" else "…"
    cut = min(len(text), MULTI[encoding(text)] * max_segments)  # no more characters than units
    while cut > 1 and segments(text[:cut].rstrip() + ellipsis) > max_segments:
        cut -= 1
    head = text[:cut]
    space = head.rfind(" ")
    if space > cut // 2:  # end at a word boundary when one is near
        head = head[:space]
    return head.rstrip() + ellipsis
