"""The dashboard's queries as Grafana sends them: one per panel target, variables made concrete."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.deploy import files

# What Grafana puts in place of its variables when "All" is selected and the scrape interval is 1s
# ($__rate_interval is at least four scrape intervals).
CONCRETE = {
    "$__rate_interval": "15s",
    "$__interval": "1s",
    "$__range": "5m",
    "$model": ".*",
    "$mode": ".*",
}
VARIABLE = re.compile(r"\$\{?\w+\}?")


@dataclass(frozen=True)
class Target:
    panel: str
    ref: str
    expr: str
    instant: bool  # a stat/table query at one instant, else a time-series range query

    @property
    def name(self) -> str:
        return f"{self.panel} [{self.ref}]"


def concrete(expr: str) -> str:
    """``expr`` with every Grafana variable replaced; one left over is a dashboard the test cannot run."""
    for variable, value in CONCRETE.items():
        expr = expr.replace(variable, value)
    left = VARIABLE.findall(expr)
    assert not left, f"no concrete value for {left} in {expr!r}: add it to CONCRETE"
    return expr


def targets() -> list[Target]:
    return [
        Target(panel["title"], target["refId"], concrete(target["expr"]), bool(target.get("instant")))
        for panel in files.dashboard()["panels"]
        for target in panel.get("targets", [])
    ]


def label_variables() -> dict[str, tuple[str, str]]:
    """Template variable -> (metric, label) of its ``label_values(metric, label)`` query."""
    found = {}
    for variable in files.dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", query)
            assert match, f"variable {variable['name']}: not a label_values() query: {query}"
            found[variable["name"]] = (match[1], match[2])
    return found
