"""The README's configuration table, generated from the settings model: ``python -m service.configdoc``.

``--check`` exits 1 when the README's table differs from the model (a test runs it), so a new setting
cannot ship undocumented.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import SecretStr
from pydantic_core import PydanticUndefined

from service.settings import SECTIONS, env_name

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- config-table:start -->", "<!-- config-table:end -->"


def _default(field: object) -> str:
    default = getattr(field, "default", None)
    if getattr(field, "default_factory", None) is not None:
        return "(computed)"
    if default is PydanticUndefined or default is None or default == ():
        return ""
    if isinstance(default, SecretStr):
        return "(secret)"
    return f"`{default}`"


def render() -> str:
    lines = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for section in SECTIONS.values():
        for name, field in section.model_fields.items():
            secret = "SecretStr" in str(field.annotation)
            meaning = (field.description or "").replace("|", "\\|")
            if secret:
                meaning = f"{meaning} Secret: never printed.".strip()
            lines.append(f"| `{env_name(section, name)}` | {_default(field)} | {meaning} |")
    return "\n".join(lines)


def updated(text: str) -> str:
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{render()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    text = README.read_text()
    new = updated(text)
    if "--check" in argv:
        if new != text:
            print("README configuration table is out of date: run `make docs`", file=sys.stderr)
            return 1
        return 0
    README.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
