"""pydantic's messages in words a shop owner or an integrator understands: a failed
pattern says what is expected, never the regular expression."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from surveys.model import IDENT

LOCALE = r"^[a-z]{2}$"
ONE_WORD = r"^[^\s\x00-\x1f\x7f]+$"  # like `/order <ref> [segment]`: one word each
PRINTABLE = r"^[!-~]+$"
BOT_USERNAME = r"^[A-Za-z0-9_]{3,64}$"
EXPECTED = {
    IDENT: "lower-case latin letters, digits and _, starting with a letter (e.g. after_purchase)",
    LOCALE: "a two-letter language code, e.g. ru or en",
    ONE_WORD: "one word: no spaces or control characters",
    PRINTABLE: "printable ASCII characters without spaces",
    BOT_USERNAME: "the bot's username without @: 3 to 64 latin letters, digits or _",
}


def message(error: Mapping[str, Any]) -> str:
    """One pydantic error (an item of `ValidationError.errors()`) as a sentence."""
    if error["type"] == "extra_forbidden":
        return "unknown field"
    if error["type"] == "string_pattern_mismatch":
        pattern = str((error.get("ctx") or {}).get("pattern", ""))
        expected = EXPECTED.get(pattern)
        return f"expected {expected}" if expected else "contains characters not allowed here"
    return str(error["msg"]).removeprefix("Value error, ")
