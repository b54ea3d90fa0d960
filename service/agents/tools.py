"""The reference tool worker's tools: a calculator and a clock. Pure (the clock takes ``now``).

The calculator walks the expression's syntax tree (``ast``) and allows only numbers, the arithmetic
operators and parentheses: never ``eval``. Powers are bounded so one input cannot take the worker's
CPU or memory.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_EXPRESSION = 200
MAX_EXPONENT = 64
MAX_MAGNITUDE = 1e100

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}


class ToolFailed(Exception):
    """The tool could not answer; the message goes back to Claude as an ``is_error`` result."""


def calculate(expression: str) -> int | float:
    if not isinstance(expression, str) or not expression.strip():
        raise ToolFailed("expression must be a non-empty string")
    if len(expression) > MAX_EXPRESSION:
        raise ToolFailed(f"expression longer than {MAX_EXPRESSION} characters")
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        raise ToolFailed(f"not an arithmetic expression: {expression!r}") from None
    return _value(tree.body)


def _value(node: ast.AST) -> int | float:
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return node.value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _checked(_UNARY[type(node.op)](_value(node.operand)))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _value(node.left), _value(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise ToolFailed(f"exponent above {MAX_EXPONENT}")
        try:
            return _checked(_BINARY[type(node.op)](left, right))
        except ZeroDivisionError:
            raise ToolFailed("division by zero") from None
        except (OverflowError, ValueError) as exc:
            raise ToolFailed(str(exc)) from None
    raise ToolFailed(f"only numbers and + - * / // % ** ( ) are allowed, not {type(node).__name__}")


def _checked(value: Any) -> int | float:
    if isinstance(value, complex):
        raise ToolFailed("the result is not a real number")
    if abs(value) > MAX_MAGNITUDE or (isinstance(value, float) and not math.isfinite(value)):
        raise ToolFailed("the result is too large")
    return value  # type: ignore[no-any-return]


def clock(timezone: str | None, now: datetime) -> str:
    """``now`` in ``timezone`` (IANA name, default UTC) as RFC 3339."""
    name = timezone or "UTC"
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolFailed(f"unknown time zone {name!r}") from None
    return now.astimezone(zone).isoformat(timespec="seconds")


def run_tool(name: str, tool_input: dict[str, Any], now: datetime) -> str:
    """The text result of one call; raises ``ToolFailed`` for an unknown tool or a bad input."""
    if name == "calculator":
        result = calculate(tool_input.get("expression"))  # type: ignore[arg-type]
        return str(int(result) if isinstance(result, float) and result.is_integer() else result)
    if name == "clock":
        zone = tool_input.get("timezone")
        return clock(zone if isinstance(zone, str) else None, now)
    raise ToolFailed(f"this worker has no tool {name!r} (it runs: {', '.join(TOOL_SPECS)})")


TOOL_SPECS: dict[str, dict[str, Any]] = {
    "calculator": {
        "name": "calculator",
        "description": "Evaluate an arithmetic expression (numbers, + - * / // % ** and parentheses).",
        "input_schema": {
            "type": "object",
            "properties": {"expression": {"type": "string", "description": "For example: 17 * 23 + 4"}},
            "required": ["expression"],
        },
    },
    "clock": {
        "name": "clock",
        "description": "The current date and time, in an IANA time zone (default UTC).",
        "input_schema": {
            "type": "object",
            "properties": {"timezone": {"type": "string", "description": "For example: Europe/Berlin"}},
        },
    },
}
"""The tools as ``params.tools`` entries, for ``send --loop``."""
