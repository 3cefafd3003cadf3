"""Words of the listings pages."""

WORDS: dict[str, tuple[str, str]] = {}
