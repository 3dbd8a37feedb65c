"""Custom scalars."""

from __future__ import annotations

from typing import NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

MAX_SAFE_INTEGER = 2**53 - 1


def _parse_big_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("BigInt must be an integer")
    number = int(value)
    if abs(number) > MAX_SAFE_INTEGER:
        raise ValueError("BigInt must lie within ±(2^53 - 1)")
    return number


# GraphQL's Int is 32-bit; a backup of 3 GiB would not fit. Byte counts travel as JSON numbers,
# exact up to 2^53 - 1 (8 PiB), which is what a JavaScript number holds without loss.
BigInt = NewType("BigInt", int)

SCALAR_MAP: dict[object, ScalarDefinition] = {
    BigInt: strawberry.scalar(
        name="BigInt",
        description=(
            "An integer beyond GraphQL's 32-bit Int (byte counts, row counts), serialized as a "
            "JSON number; exact up to 2^53 - 1, so JavaScript numbers hold it without loss."
        ),
        serialize=int,
        parse_value=_parse_big_int,
    )
}
