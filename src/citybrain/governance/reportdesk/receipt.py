"""Receipt codes (回执码): 80 random bits as ``RPT-XXXX-XXXX-XXXX-XXXX`` in Crockford base32.

Only the SHA-256 of the canonical code is stored. People copy codes by hand, so parsing is
forgiving the Crockford way: any case, dashes and spaces optional, the ``RPT`` prefix optional,
``O`` read as ``0`` and ``I``/``L`` as ``1``.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from citybrain.kernel.errors import InvalidInput

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
PREFIX = "RPT"
RANDOM_BYTES = 10  # 80 bits = 16 symbols
SYMBOLS = RANDOM_BYTES * 8 // 5
GROUP = 4
MAX_INPUT = 64  # longest text accepted as a code (with spaces and dashes)
_LOOKALIKE = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = re.compile(r"[\s\-_]+")


def encode(raw: bytes) -> str:
    """The canonical code of ``RANDOM_BYTES`` random bytes."""
    if len(raw) != RANDOM_BYTES:
        raise ValueError(f"a receipt code holds {RANDOM_BYTES} bytes")
    number = int.from_bytes(raw, "big")
    body = "".join(ALPHABET[(number >> (5 * i)) & 31] for i in reversed(range(SYMBOLS)))
    groups = [body[i : i + GROUP] for i in range(0, SYMBOLS, GROUP)]
    return "-".join((PREFIX, *groups))


def new_code() -> str:
    """A fresh, unguessable receipt code (80 bits from ``secrets``)."""
    return encode(secrets.token_bytes(RANDOM_BYTES))


def normalise(text: str, field: str = "code") -> str:
    """The canonical form of a code as typed; InvalidInput naming ``field`` if it is none."""
    if not isinstance(text, str) or len(text) > MAX_INPUT:
        raise InvalidInput("not a receipt code", field=field)
    compact = _SEPARATORS.sub("", text).upper().translate(_LOOKALIKE)
    if len(compact) == SYMBOLS + len(PREFIX) and compact.startswith(PREFIX):
        compact = compact[len(PREFIX) :]
    if len(compact) != SYMBOLS or any(c not in ALPHABET for c in compact):
        raise InvalidInput(f"a receipt code looks like {PREFIX}-XXXX-XXXX-XXXX-XXXX", field=field)
    groups = [compact[i : i + GROUP] for i in range(0, SYMBOLS, GROUP)]
    return "-".join((PREFIX, *groups))


def code_hash(code: str) -> str:
    """SHA-256 (hex) of the canonical code: what the database keeps."""
    return hashlib.sha256(normalise(code).encode("ascii")).hexdigest()
