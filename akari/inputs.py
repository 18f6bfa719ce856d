"""One rule per kind of visitor input (record ids, form fields, search text), checked before any database touch."""

from __future__ import annotations

import unicodedata

from akari.errors import InvalidInput

# Ids are INTEGER columns: 32-bit on PostgreSQL. A larger number is no id at all, and must not reach the driver
# (SQLite raises OverflowError past 64 bits, PostgreSQL NumericValueOutOfRange past 32).
MAX_RECORD_ID = 2**31 - 1
MAX_SEARCH_CHARS = 200
MAX_FIELD_CHARS = 256


def record_id(value: object, what: str = "image") -> int:
    """A positive id within the column's range, from a query parameter, a widget or an API body."""
    if isinstance(value, bool):
        raise InvalidInput(f"That link does not point to an {what}.")
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        if not text.isascii() or not text.isdigit() or len(text) > 10:
            raise InvalidInput(f"That link does not point to an {what}.")
        number = int(text)
    if not 1 <= number <= MAX_RECORD_ID:
        raise InvalidInput(f"That link does not point to an {what}.")
    return number


def has_control_characters(text: str) -> bool:
    """NUL, escapes, bidi overrides and the like: never part of a name, an email or a password."""
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in text)


def check_field(raw: object, label: str, max_chars: int = MAX_FIELD_CHARS) -> str:
    """A sign-in or registration field as typed: refused in words if it holds control characters or is too long."""
    text = raw if isinstance(raw, str) else ""
    if has_control_characters(text):
        raise InvalidInput(f"The {label} contains control characters (such as NUL) that cannot be used. "
                           "Type it again.")
    if len(text) > max_chars:
        raise InvalidInput(f"The {label} is too long: at most {max_chars} characters.")
    return text


def search_text(raw: object) -> str:
    """A search box's text: control characters become spaces and it is cut to a sane length (never refused:
    a search that matches nothing is the honest answer)."""
    text = raw if isinstance(raw, str) else ""
    return "".join(" " if has_control_characters(ch) else ch for ch in text[:MAX_SEARCH_CHARS])
