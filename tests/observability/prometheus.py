"""A real Prometheus for the tests: its own config, data dir and free port, killed on exit whatever happens."""

from __future__ import annotations

import json
import math
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.observability.tools import binary
from tests.ports import free_port
from tests.services import ChildProcess

SCRAPE_SECONDS = 1


class PrometheusProcess(ChildProcess):
    """``prometheus`` scraping ``targets`` (job -> host:port list) every second and evaluating ``rule_files``."""

    def __init__(
        self, workdir: Path, targets: Mapping[str, Sequence[str]], rule_files: Sequence[Path] = ()
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": f"{SCRAPE_SECONDS}s", "evaluation_interval": f"{SCRAPE_SECONDS}s"},
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": list(hosts)}]}
                for job, hosts in targets.items()
            ],
        }
        config_path = workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        args = [
            binary("prometheus"),
            f"--config.file={config_path}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        super().__init__(args, {}, workdir / "prometheus.log")

    def ready(self) -> bool:
        """``/-/ready`` answers 200 (the TSDB is open and the rules are loaded); a dead process fails."""
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"prometheus exited:\n{self.log()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{self.base_url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:  # refused while starting, or 503 until ready
            return False

    def api(self, path: str, **params: str) -> Any:
        """``GET /api/v1/<path>``'s ``data``; an error answer fails with Prometheus's own message."""
        url = f"{self.base_url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            if not text.startswith("{"):
                raise AssertionError(f"{path}: HTTP {exc.code} {text[:200]}") from None
            body = json.loads(text)
        if body["status"] != "success":
            raise AssertionError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query at now (what a Grafana stat or table panel sends)."""
        return list(self.api("query", query=expr)["result"])

    def query_range(self, expr: str, start: float, end: float) -> list[dict[str, Any]]:
        """A range query at the scrape interval (what a Grafana time-series panel sends)."""
        data = self.api("query_range", query=expr, start=str(start), end=str(end), step=f"{SCRAPE_SECONDS}s")
        return list(data["result"])

    def targets_up(self) -> bool:
        active = self.api("targets", state="active")["activeTargets"]
        return bool(active) and all(target["health"] == "up" for target in active)


def with_values(result: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The series of a query result that have at least one number (Grafana draws nothing for NaN)."""

    def numbers(series: dict[str, Any]) -> list[float]:
        points = series["values"] if "values" in series else [series["value"]]
        return [float(value) for _, value in points if not math.isnan(float(value))]

    return [series for series in result if numbers(series)]
