"""docker-compose.yml agrees with the code: setting names, ports, images, the shared dashboard and rules."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from service.settings import load_settings
from tests.deploy import files

INTERPOLATION = re.compile(r"\$\{(\w+)(?::?[-?]([^}]*))?\}")


def compose(path: Path = files.COMPOSE) -> dict[str, Any]:
    data: dict[str, Any] = files.load_yaml(path)
    return data


def app_services(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Services running the claude-kafka image (the service, the topic initialiser, the emulator)."""
    return {
        name: svc
        for name, svc in data["services"].items()
        if svc.get("image", "").startswith("claude-kafka:")
    }


def interpolated(value: str) -> str:
    """The value compose uses when the variable is unset: ${X:-default} -> default."""
    return INTERPOLATION.sub(lambda m: m.group(2) or "", str(value))


def service_env() -> dict[str, str]:
    return {k: interpolated(v) for k, v in compose()["services"]["claude-kafka"]["environment"].items()}


def test_every_env_name_for_the_app_is_a_setting() -> None:
    """Each variable compose sets on the claude-kafka image, in both files, is one the settings read."""
    for path in (files.COMPOSE, files.COMPOSE_REAL_API):
        for name, svc in compose(path)["services"].items():
            if name in app_services(compose(files.COMPOSE)):
                unknown = set(svc.get("environment", {})) - files.setting_names()
                assert not unknown, f"{path.name}:{name}: {sorted(unknown)}"


def test_service_env_loads_as_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The service's environment, with compose defaults filled in, passes the settings validation."""
    for name, value in service_env().items():
        monkeypatch.setenv(name, value)
    settings = load_settings(env_file=None)
    assert settings.kafka.enable_idempotence is True
    assert settings.anthropic.base_url is not None


def test_images_are_pinned() -> None:
    """Every image has a version tag; Kafka is the official apache/kafka image."""
    for name, svc in compose()["services"].items():
        image = interpolated(svc["image"])
        assert re.search(r":v?\d+\.\d+(\.\d+)?$", image), f"{name}: {image}"
    assert compose()["services"]["kafka"]["image"].startswith("apache/kafka:")


def test_two_replicas_share_one_consumer_group() -> None:
    """The service runs two replicas with a single KAFKA_GROUP_ID and idempotence on against real Kafka."""
    svc = compose()["services"]["claude-kafka"]
    assert svc["deploy"]["replicas"] == 2
    assert "container_name" not in svc, "a fixed container name prevents replicas"
    assert service_env()["KAFKA_GROUP_ID"]
    assert service_env()["KAFKA_ENABLE_IDEMPOTENCE"] == "true"


def test_kafka_listeners_serve_the_host_and_the_network() -> None:
    """The host reaches localhost:9092 (the settings default); containers use the advertised internal name."""
    kafka = compose()["services"]["kafka"]["environment"]
    advertised = dict(item.split("://") for item in kafka["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"
    host_port = files.setting_default("kafka", "bootstrap_servers").split(":")[-1]
    assert advertised["EXTERNAL"] == f"localhost:{host_port}"
    assert f"127.0.0.1:{host_port}:{host_port}" in compose()["services"]["kafka"]["ports"]
    for svc in ("claude-kafka", "topics"):
        env = compose()["services"][svc]["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == advertised["INTERNAL"], svc


def test_topics_are_created_before_the_service_starts() -> None:
    """A one-shot `claude-kafka topics create` runs after Kafka is healthy; the service waits for it."""
    data = compose()["services"]
    assert data["topics"]["command"] == ["topics", "create"]
    assert data["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert data["claude-kafka"]["depends_on"]["topics"]["condition"] == "service_completed_successfully"


def test_emulator_is_the_default_endpoint() -> None:
    """ANTHROPIC_BASE_URL defaults to the emulator's compose address and port, listening on all interfaces."""
    command = compose()["services"]["emulator"]["command"]
    port = command[command.index("--port") + 1]
    assert command[0] == "emulator"
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert service_env()["ANTHROPIC_BASE_URL"] == f"http://emulator:{port}"


def test_real_api_override_takes_the_key_from_the_environment() -> None:
    """The override points at the real API and requires ANTHROPIC_API_KEY from the caller's environment."""
    env = compose(files.COMPOSE_REAL_API)["services"]["claude-kafka"]["environment"]
    assert env["ANTHROPIC_BASE_URL"] == "https://api.anthropic.com"
    assert env["ANTHROPIC_API_KEY"].startswith("${ANTHROPIC_API_KEY:?")


def test_no_secret_literal_in_compose_files() -> None:
    """Keys and passwords come from the environment; no Anthropic key shape appears anywhere."""
    for path in (files.COMPOSE, files.COMPOSE_REAL_API):
        text = path.read_text(encoding="utf-8")
        assert "sk-ant-a" not in text, path.name
        for svc in compose(path)["services"].values():
            for name, value in svc.get("environment", {}).items():
                if re.search(r"KEY|PASSWORD|SECRET|TOKEN", name) and not name.startswith("GF_AUTH_ANON"):
                    assert str(value).startswith("${"), f"{path.name}: {name} is a literal"


def test_stop_grace_period_exceeds_the_drain_grace() -> None:
    """Compose waits longer than SHUTDOWN_GRACE_SECONDS before SIGKILL, so the drain can commit."""
    svc = compose()["services"]["claude-kafka"]
    stop = int(svc["stop_grace_period"].removesuffix("s"))
    assert stop > float(service_env()["SHUTDOWN_GRACE_SECONDS"])


def test_prometheus_scrapes_every_replica_on_the_metrics_port() -> None:
    """DNS service discovery of the compose service, on the METRICS_PORT the replicas listen on."""
    prom = files.load_yaml(files.PROMETHEUS)
    job = next(j for j in prom["scrape_configs"] if j["job_name"] == "claude-kafka")
    sd = job["dns_sd_configs"][0]
    assert sd["names"] == ["claude-kafka"] and sd["type"] == "A"
    assert sd["port"] == int(service_env()["METRICS_PORT"])
    assert job.get("metrics_path", "/metrics") == "/metrics"
    assert compose()["services"]["claude-kafka"]["expose"] == [service_env()["METRICS_PORT"]]


def mounts(service: str) -> dict[str, Path]:
    """Container path -> host path for a service's bind mounts."""
    found = {}
    for volume in compose()["services"][service]["volumes"]:
        host, container = volume.split(":")[:2]
        found[container] = (files.ROOT / host).resolve()
    return found


def test_grafana_provisions_the_charts_dashboard_file() -> None:
    """Grafana reads the dashboard from the chart's directory (one copy) and a provider pointing at it."""
    grafana = mounts("grafana")
    assert grafana["/var/lib/grafana/dashboards"] == files.DASHBOARD.parent.resolve()
    provider_file = next(h for c, h in grafana.items() if "provisioning/dashboards" in c)
    provider = files.load_yaml(provider_file)["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    datasource_file = next(h for c, h in grafana.items() if "provisioning/datasources" in c)
    datasource = files.load_yaml(datasource_file)["datasources"][0]
    assert datasource["type"] == "prometheus" and datasource["url"] == "http://prometheus:9090"


def test_prometheus_loads_the_charts_alert_rules() -> None:
    """The rule file mounted into Prometheus is the chart's files/alerts.yaml, matched by rule_files."""
    prometheus = mounts("prometheus")
    rules_in_container = next(c for c, h in prometheus.items() if h == files.ALERTS.resolve())
    patterns = files.load_yaml(files.PROMETHEUS)["rule_files"]
    assert any(Path(rules_in_container).match(p) for p in patterns)


def test_every_bind_mount_exists() -> None:
    """Each host path compose mounts is in the repository."""
    for service in ("prometheus", "grafana"):
        for host in mounts(service).values():
            assert host.exists(), host


def callbacks_env() -> dict[str, str]:
    return {k: interpolated(v) for k, v in compose()["services"]["callbacks"]["environment"].items()}


def test_callbacks_service_is_opt_in_and_reads_only_its_settings() -> None:
    """`callbacks` and its example receiver run only with the profile; env = names the command reads."""
    services = compose()["services"]
    for name in ("callbacks", "callback-receiver"):
        assert services[name]["profiles"] == ["callbacks"], name
    assert services["callbacks"]["command"] == ["callbacks"]
    assert set(callbacks_env()) <= files.callbacks_setting_names(), sorted(
        set(callbacks_env()) - files.callbacks_setting_names()
    )
    assert "ANTHROPIC_API_KEY" not in callbacks_env()
    assert callbacks_env()["KAFKA_BOOTSTRAP_SERVERS"] == service_env()["KAFKA_BOOTSTRAP_SERVERS"]


def test_callbacks_signing_secret_comes_from_the_environment() -> None:
    """Sender and receiver share CALLBACK_SIGNING_SECRET, interpolated from the caller's environment."""
    for name in ("callbacks", "callback-receiver"):
        value = compose()["services"][name]["environment"]["CALLBACK_SIGNING_SECRET"]
        assert value.startswith("${CALLBACK_SIGNING_SECRET"), name


def test_callbacks_env_loads_and_allows_the_example_receiver(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a secret exported, the env is valid settings and the receiver's host is on the allow-list."""
    for name, value in callbacks_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CALLBACK_SIGNING_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    settings = load_settings(env_file=None)
    assert "callback-receiver" in settings.callbacks.allowed_hosts
    assert settings.callbacks.group_id != service_env()["KAFKA_GROUP_ID"]
    svc = compose()["services"]["callbacks"]
    assert int(svc["stop_grace_period"].removesuffix("s")) > settings.pipeline.shutdown_grace_seconds


def test_prometheus_scrapes_the_callbacks_service() -> None:
    """A second DNS-discovered job scrapes the callbacks service on the METRICS_PORT it listens on."""
    prom = files.load_yaml(files.PROMETHEUS)
    job = next(j for j in prom["scrape_configs"] if j["job_name"] == "claude-kafka-callbacks")
    sd = job["dns_sd_configs"][0]
    assert sd["names"] == ["callbacks"] and sd["port"] == int(callbacks_env()["METRICS_PORT"])
    assert compose()["services"]["callbacks"]["expose"] == [callbacks_env()["METRICS_PORT"]]


def test_example_receiver_script_is_mounted() -> None:
    """The receiver runs the repository's deploy/compose/callback-receiver.py, mounted read-only."""
    receiver = mounts("callback-receiver")
    script = compose()["services"]["callback-receiver"]["entrypoint"][1]
    assert receiver[script].exists()
    assert receiver[script] == (files.ROOT / "deploy" / "compose" / "callback-receiver.py").resolve()


def test_commented_setting_examples_are_settings() -> None:
    """Every commented `# NAME: value` example in the compose file names a real setting."""
    text = files.COMPOSE.read_text(encoding="utf-8")
    names = set(re.findall(r"^\s+# ([A-Z][A-Z0-9_]+): ", text, flags=re.MULTILINE))
    assert {"KAFKA_SASL_OAUTH_TOKEN_URL", "KAFKA_CONSUMER_CONFIG", "KAFKA_GROUP_INSTANCE_ID"} <= names
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in names  # the OpenTelemetry SDK's own variables, read as they are
    names = {n for n in names if not n.startswith(files.OTEL_PREFIX)}
    assert names <= files.setting_names(), sorted(names - files.setting_names())
