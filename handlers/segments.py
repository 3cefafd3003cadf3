"""SMS segments: GSM-7 or UCS-2, how many segments a text costs, and fitting a reply to 2.

Rules (CHANNELS.md B5, SPEC §3, 3GPP TS 23.038): GSM-7 fits 160 septets in a single segment
and 153 per segment of a longer message; extension characters take 2 septets (escape + code).
Any other character makes the whole text UCS-2: 70 / 67 UTF-16 units, a non-BMP character
(most emoji) takes 2. A character is never split across segments: one that does not fit
whole moves to the next segment, so a text can need more than ceil(units / 153).
"""

from __future__ import annotations

import unicodedata

# GSM 03.38 default alphabet, positions 0x00-0x7F in order; 0x1B (escape) is not a character.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# The default extension table: each is sent as escape + code, so it costs 2 septets.
GSM7_EXTENDED = frozenset("\f^{}\\[~]|€")
LIMITS = {"GSM-7": (160, 153), "UCS-2": (70, 67)}  # (single segment, per concatenated segment)
ELLIPSIS = {"GSM-7": "...", "UCS-2": "…"}  # "…" is not GSM-7 and would switch the text to UCS-2
TRAILING = " \t\r\n\f\u3000,;:-，、；："  # dropped before the ellipsis: "50 kg,..." reads badly

# Look-alikes Twilio's smart encoding replaces (a small subset of its map, the ones replies use).
SMART_GSM = str.maketrans(
    {
        "‘": "'",
        "’": "'",
        "‚": "'",
        "‛": "'",
        "′": "'",
        "“": '"',
        "”": '"',
        "„": '"',
        "‟": '"',
        "″": '"',
        "«": '"',
        "»": '"',
        "‐": "-",
        "‑": "-",
        "‒": "-",
        "–": "-",
        "—": "-",
        "―": "-",
        "\u00a0": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\u200b": "",
        "\ufeff": "",
        "…": "...",
    }
)


def encoding(text: str) -> str:
    """'GSM-7' when every character is in the default alphabet or its extension, else 'UCS-2'."""
    gsm = all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text)
    return "GSM-7" if gsm else "UCS-2"


def _cost(ch: str, enc: str) -> int:
    """Units one character takes: septets in GSM-7, UTF-16 code units in UCS-2."""
    if enc == "GSM-7":
        return 2 if ch in GSM7_EXTENDED else 1
    return 2 if ord(ch) > 0xFFFF else 1


def units(text: str) -> int:
    """Length in the text's encoding: GSM-7 septets or UCS-2 (UTF-16) code units."""
    enc = encoding(text)
    return sum(_cost(ch, enc) for ch in text)


def _packed(costs: list[int], per_segment: int) -> int:
    """Segments needed when each character must fit whole into one segment."""
    count, used = 1, 0
    for cost in costs:
        if used + cost > per_segment:  # an escape pair or surrogate pair is never split
            count, used = count + 1, 0
        used += cost
    return count


def segments(text: str) -> int:
    """How many SMS segments text is sent as (0 for an empty text)."""
    if not text:
        return 0
    enc = encoding(text)
    costs = [_cost(ch, enc) for ch in text]
    single, per_segment = LIMITS[enc]
    return 1 if sum(costs) <= single else _packed(costs, per_segment)


def smart_gsm(text: str) -> str:
    """Curly quotes, dashes, odd spaces and '…' replaced by GSM-7 look-alikes, as Twilio does."""
    return text.translate(SMART_GSM)


def fit(text: str, max_segments: int = 2) -> str:
    """text if it fits; else trailing lines dropped, else cut at a word and ended with
    '...'/'…'."""
    if segments(text) <= max_segments:
        return text
    return _whole_lines(text, max_segments) or _truncate(text, max_segments)


def _whole_lines(text: str, max_segments: int) -> str:
    """The most leading whole lines that fit and say something, or '' when none do."""
    lines = text.split("\n")
    for keep in range(len(lines) - 1, 0, -1):
        head = "\n".join(lines[:keep]).rstrip()
        if head and segments(head) <= max_segments:
            return head
    return ""


def _truncate(text: str, max_segments: int) -> str:
    """The longest prefix that fits with an ellipsis, ended at a word or CJK boundary."""
    end = _longest_prefix(text, max_segments)
    boundary = _boundary(text, end)
    if boundary > end // 2:  # a boundary near the end; else one long word, cut it hard
        nice = _with_ellipsis(text[:boundary].rstrip(TRAILING))
        if nice.strip(". …") and segments(nice) <= max_segments:
            return nice
    return _with_ellipsis(text[:end])


def _with_ellipsis(head: str) -> str:
    """head + the ellipsis that does not change head's encoding."""
    return head + ELLIPSIS[encoding(head)]


def _longest_prefix(text: str, max_segments: int) -> int:
    """Largest n such that text[:n] plus its ellipsis fits (at least 1)."""
    # Within one encoding a longer prefix never needs fewer segments, so binary search works
    # on each side of the first non-GSM character; GSM-7 holds more, so try that side too.
    first_ucs2 = next((i for i, ch in enumerate(text) if encoding(ch) == "UCS-2"), len(text))
    cap = min(len(text), max(LIMITS["GSM-7"][0], LIMITS["GSM-7"][1] * max_segments))
    best = 1
    for low, high in ((1, min(first_ucs2, cap)), (first_ucs2 + 1, cap)):
        while low <= high:
            mid = (low + high) // 2
            if segments(_with_ellipsis(text[:mid])) <= max_segments:
                best, low = max(best, mid), mid + 1
            else:
                high = mid - 1
    return best


def _boundary(text: str, end: int) -> int:
    """Largest cut ≤ end at a space or next to a CJK (wide) character, or 0."""
    for cut in range(min(end, len(text) - 1), 0, -1):
        before, after = text[cut - 1], text[cut]
        if after.isspace() or before.isspace() or _wide(before) or _wide(after):
            return cut
    return 0


def _wide(ch: str) -> bool:
    """Chinese, Japanese, Korean and emoji characters: a text may break between any two."""
    return unicodedata.east_asian_width(ch) in ("W", "F")
