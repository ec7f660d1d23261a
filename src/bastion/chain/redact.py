"""Redaction of anything in an error message that could be a secret.

A private key is 64 hex digits; an error path that echoes a config value may show all of it or a cut
prefix. Hex runs of 32 digits or more are replaced unless they are exactly an address (40 digits),
which errors need to name. This also hides transaction hashes in error text: a hash can be found
again from the logs of the send, a leaked key cannot be taken back. Credentials in URLs
(``scheme://user:secret@host``) are dropped too.
"""

from __future__ import annotations

import re

_HEX_RUN = re.compile(r"(?<![0-9a-zA-Z])(0x)?([0-9a-fA-F]{32,})")
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")
REDACTED = "<redacted>"


def _hex(match: re.Match[str]) -> str:
    digits = match.group(2)
    if len(digits) == 40 and match.group(1):  # an address
        return match.group(0)
    return (match.group(1) or "") + REDACTED


def redact(text: str) -> str:
    """``text`` with key-like hex runs and URL credentials replaced by ``<redacted>``."""
    return _URL_CREDENTIALS.sub(REDACTED + "@", _HEX_RUN.sub(_hex, text))


def looks_secret(value: object) -> bool:
    """Whether a single config value looks like a key itself (so must never be echoed)."""
    return isinstance(value, str) and redact(value) != value
