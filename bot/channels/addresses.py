"""User addresses: phone numbers in E.164 (phonenumbers), other ids as given."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers


@lru_cache(
    maxsize=65536
)  # a sender writes again and again; parsing costs ~30 µs (errors are not kept)
def e164(raw: str, region: str | None = None) -> str:
    """'+86 138-0000-0001' → '+8613800000001'; ValueError when it is not a possible number."""
    try:
        number = phonenumbers.parse(raw.strip(), region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"{raw!r} is not a phone number ({exc})") from None
    if not phonenumbers.is_possible_number(number):
        raise ValueError(f"{raw!r} is not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
