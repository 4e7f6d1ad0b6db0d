"""Receipt codes: 80 random bits, ``RPT-XXXX-XXXX-XXXX-XXXX`` in Crockford base32, read back
whatever the case, dashes, spaces or look-alike letters; stored only as a hash."""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citybrain.governance.reportdesk import receipt
from citybrain.kernel.errors import InvalidInput

FORMAT = re.compile(r"^RPT(-[0-9A-HJKMNP-TV-Z]{4}){4}$")
raw_codes = st.binary(min_size=receipt.RANDOM_BYTES, max_size=receipt.RANDOM_BYTES)


@given(raw_codes)
def test_every_code_has_the_format_and_reads_back(raw: bytes) -> None:
    code = receipt.encode(raw)
    assert FORMAT.match(code), code
    assert receipt.normalise(code) == code
    body = code.removeprefix("RPT-").replace("-", "")
    # the 16 symbols are the 80 bits, most significant first
    number = 0
    for symbol in body:
        number = number * 32 + receipt.ALPHABET.index(symbol)
    assert number.to_bytes(receipt.RANDOM_BYTES, "big") == raw


@given(
    raw_codes,
    st.booleans(),
    st.booleans(),
    st.sampled_from(["-", " ", "", "  ", "_"]),
)
def test_typed_spellings_normalise_to_the_code(
    raw: bytes, lower: bool, prefix: bool, separator: str
) -> None:
    code = receipt.encode(raw)
    body = code.removeprefix("RPT-").split("-")
    typed = separator.join((["RPT"] if prefix else []) + body)
    typed = typed.lower() if lower else typed
    # Crockford: O is read as 0, I and L as 1
    typed = typed.replace("0", "o" if lower else "O").replace("1", "l" if lower else "I")
    assert receipt.normalise(f"  {typed} ") == code
    assert receipt.code_hash(typed) == hashlib.sha256(code.encode()).hexdigest()


@given(st.text(max_size=80))
def test_anything_else_is_refused_naming_the_field_or_is_a_code(text: str) -> None:
    try:
        code = receipt.normalise(text)
    except InvalidInput as exc:
        assert exc.field == "code"
    else:
        assert FORMAT.match(code)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "RPT-",
        "RPT-AAAA-AAAA-AAAA-AAA",  # one symbol short
        "RPT-AAAA-AAAA-AAAA-AAAAA",  # one too many
        "RPT-AAAA-AAAA-AAAA-AAAU",  # U is not a Crockford symbol
        "XYZ-AAAA-AAAA-AAAA-AAAA",  # another prefix
        "RPT-AAAA-AAAA-AAAA-AAA!",
        "A" * 200,
    ],
)
def test_malformed_codes_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as err:
        receipt.normalise(text)
    assert err.value.field == "code"


def test_new_codes_are_random_and_well_formed() -> None:
    codes = {receipt.new_code() for _ in range(500)}
    assert len(codes) == 500
    assert all(FORMAT.match(c) for c in codes)
    assert receipt.RANDOM_BYTES * 8 >= 80
