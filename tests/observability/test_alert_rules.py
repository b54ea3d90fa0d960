"""The alert rules load in Prometheus, and each one fires and resolves in a `promtool test rules` case."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.deploy import files
from tests.observability.tools import binary

RULE_TESTS = Path(__file__).with_name("alerts_test.yaml")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary("promtool"), *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_alert_rules_file_passes_promtool_check() -> None:
    """`promtool check rules` accepts the rules file and counts every rule in it."""
    result = promtool("check", "rules", str(files.ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(files.alert_rules())} rules found" in result.stdout


def test_compose_prometheus_config_passes_promtool_check() -> None:
    """`promtool check config` accepts docker compose's Prometheus config."""
    result = promtool("check", "config", str(files.PROMETHEUS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_fires_and_resolves_in_promtool_unit_tests() -> None:
    """`promtool test rules` passes: each case's alerts fire with the expected labels and summaries."""
    result = promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_alert_is_left_without_a_firing_and_a_resolved_case() -> None:
    """Each alert of the rules file has a case where it fires and a later one where it has resolved."""
    rule_files = files.load_yaml(RULE_TESTS)["rule_files"]
    assert [(RULE_TESTS.parent / f).resolve() for f in rule_files] == [files.ALERTS.resolve()]
    fired: dict[str, float] = {}
    resolved_after: dict[str, float] = {}
    for case in files.load_yaml(RULE_TESTS)["tests"]:
        for check in case["alert_rule_test"]:
            name, at = check["alertname"], minutes(check["eval_time"])
            if check["exp_alerts"]:
                fired[name] = min(at, fired.get(name, at))
            elif name in fired and at > fired[name]:
                resolved_after[name] = at
    alerts = {rule["alert"] for rule in files.alert_rules()}
    assert alerts - fired.keys() == set(), "alerts without a firing case"
    assert alerts - resolved_after.keys() == set(), "alerts without a resolved case after firing"
    assert fired.keys() <= alerts, "cases for alerts the rules file does not have"


def minutes(duration: str) -> float:
    """A promtool eval_time (``90s``, ``15m``, ``2h``) in minutes."""
    scale = {"s": 1 / 60, "m": 1.0, "h": 60.0}
    return float(duration[:-1]) * scale[duration[-1]]
