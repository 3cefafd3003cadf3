"""Words of the users pages."""

WORDS: dict[str, tuple[str, str]] = {}
