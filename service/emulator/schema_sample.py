"""Build a value that validates against an ordinary JSON Schema (tool ``input_schema``). Pure.

Covers what tool schemas use in practice: object/properties/required, string (enum, const,
min/maxLength, a few formats), number/integer (minimum/maximum, exclusive bounds), boolean, null,
array (items, min/maxItems), nested objects, ``anyOf``/``oneOf`` (first branch), type lists.
``$ref`` and other exotic keywords fall back to a plain value.
"""

from __future__ import annotations

import random
from typing import Any

from service.emulator.prose import WORDS

_MAX_DEPTH = 6
_FORMATS: dict[str, str] = {
    "date-time": "2025-01-15T10:30:00Z",
    "date": "2025-01-15",
    "time": "10:30:00",
    "email": "user@example.com",
    "uri": "https://example.com/resource",
    "url": "https://example.com/resource",
    "uuid": "123e4567-e89b-42d3-a456-426614174000",
    "ipv4": "192.0.2.10",
}


def sample(schema: Any, rng: random.Random, depth: int = 0) -> Any:
    """A value valid against ``schema`` (a dict; anything else yields ``{}`` at the top level)."""
    if not isinstance(schema, dict):
        return {} if depth == 0 else "value"
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return rng.choice(enum)
    for key in ("anyOf", "oneOf", "allOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches:
            return sample(branches[0], rng, depth)
    type_ = schema.get("type")
    if isinstance(type_, list):
        non_null = [t for t in type_ if t != "null"]
        type_ = non_null[0] if non_null else "null"
    if type_ is None:
        type_ = "object" if "properties" in schema or depth == 0 else "string"
    if depth >= _MAX_DEPTH and type_ in ("object", "array"):
        return {} if type_ == "object" else []
    return _BY_TYPE.get(type_, _string)(schema, rng, depth)


def _object(schema: dict[str, Any], rng: random.Random, depth: int) -> dict[str, Any]:
    props = schema.get("properties")
    if not isinstance(props, dict):
        return {}
    required = schema.get("required")
    required_set = set(required) if isinstance(required, list) else set()
    out: dict[str, Any] = {}
    for name, sub in props.items():
        # Optional properties appear about half the time, as a model would fill them.
        if name in required_set or rng.random() < 0.5:
            out[name] = sample(sub, rng, depth + 1)
    return out


def _string(schema: dict[str, Any], rng: random.Random, depth: int) -> str:
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in _FORMATS:
        return _FORMATS[fmt]
    min_len = _int(schema.get("minLength"), 0)
    max_len = _int(schema.get("maxLength"), max(min_len, 24))
    words = [rng.choice(WORDS) for _ in range(rng.randint(1, 4))]
    text = " ".join(words)
    while len(text) < min_len:
        text += " " + rng.choice(WORDS)
    return text[:max_len] if max_len >= min_len else text


def _number(schema: dict[str, Any], rng: random.Random, depth: int) -> float:
    low, high = _bounds(schema, 0.0, 100.0)
    value = round(rng.uniform(low, high), 2)
    return min(max(value, low), high)


def _integer(schema: dict[str, Any], rng: random.Random, depth: int) -> int:
    low, high = _bounds(schema, 0.0, 100.0)
    lo = int(low) if low == int(low) else int(low) + 1
    hi = int(high)
    if schema.get("exclusiveMinimum") is not None and lo == low:
        lo += 1
    if schema.get("exclusiveMaximum") is not None and hi == high:
        hi -= 1
    return rng.randint(lo, hi) if hi >= lo else lo


def _boolean(schema: dict[str, Any], rng: random.Random, depth: int) -> bool:
    return rng.random() < 0.5


def _null(schema: dict[str, Any], rng: random.Random, depth: int) -> None:
    return None


def _array(schema: dict[str, Any], rng: random.Random, depth: int) -> list[Any]:
    min_items = _int(schema.get("minItems"), 0)
    max_items = _int(schema.get("maxItems"), max(min_items, 3))
    n = rng.randint(max(min_items, min(1, max_items)), max(min_items, max_items))
    items = schema.get("items", {"type": "string"})
    return [sample(items, rng, depth + 1) for _ in range(n)]


def _bounds(schema: dict[str, Any], low: float, high: float) -> tuple[float, float]:
    lo = _num(schema.get("minimum"), _num(schema.get("exclusiveMinimum"), None))
    hi = _num(schema.get("maximum"), _num(schema.get("exclusiveMaximum"), None))
    if lo is None and hi is None:
        return low, high
    if lo is None:
        lo = (hi or 0.0) - 100.0
    if hi is None:
        hi = lo + 100.0
    return lo, max(lo, hi)


def _num(value: Any, default: float | None) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


_BY_TYPE: dict[str, Any] = {
    "object": _object,
    "string": _string,
    "number": _number,
    "integer": _integer,
    "boolean": _boolean,
    "null": _null,
    "array": _array,
}
