"""A Job holds its record value packed, and gives it back byte for byte (the ErrorEvent's original)."""

from __future__ import annotations

import random

import pytest

from service.events import PACK_FROM, pack, unpack

PROSE = (
    b'{"custom_id":"a","params":{"messages":[{"role":"user","content":"' + b"Tell me more. " * 600 + b'"}]}}'
)


@pytest.mark.parametrize(
    ("value", "smaller"),
    [
        (b"", False),
        (b'{"custom_id":"a"}', False),  # below PACK_FROM: kept as it is
        (PROSE, True),  # a large prompt is held compressed
        # Incompressible: kept as it is. Seeded, so every xdist worker collects the same test ids.
        (random.Random(7).randbytes(PACK_FROM * 2), False),
        ("Grüße \u2603".encode() * 400, True),
        (b"\xff\xfe not utf-8" * 200, True),
    ],
    ids=["empty", "small", "prose", "random", "utf-8", "not-utf-8"],
)
def test_a_packed_record_unpacks_to_the_same_bytes(value: bytes, smaller: bool) -> None:
    """pack/unpack round-trips any bytes; only values past PACK_FROM that compress are held smaller."""
    packed = pack(value)
    assert unpack(packed) == value
    assert (len(packed) < len(value)) is smaller
