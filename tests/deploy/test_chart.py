"""The Helm chart agrees with the code: values schema, setting names, ports, grace periods, scaling caps."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest
import yaml
from prometheus_client import CollectorRegistry

import service
from service.health import build_app
from service.settings import load_settings
from tests.deploy import files

TEMPLATES = files.CHART / "templates"


def values() -> dict[str, Any]:
    data: dict[str, Any] = files.load_yaml(files.CHART / "values.yaml")
    return data


def schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((files.CHART / "values.schema.json").read_text(encoding="utf-8"))
    return data


def template(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def test_values_validate_against_the_schema() -> None:
    """values.yaml passes values.schema.json, and the schema rejects unknown keys at every level."""
    jsonschema.Draft7Validator.check_schema(schema())
    jsonschema.validate(values(), schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**values(), "replicas": 3}, schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**values(), "image": {**values()["image"], "tag": "latest"}}, schema())


def test_schema_describes_every_value() -> None:
    """Every key of values.yaml, at any depth, is a property the schema declares."""

    def walk(node: Any, spec: dict[str, Any], path: str) -> None:
        if not isinstance(node, dict) or "properties" not in spec:
            return
        for key, child in node.items():
            assert key in spec["properties"], f"{path}{key} missing from values.schema.json"
            walk(child, spec["properties"][key], f"{path}{key}.")

    walk(values(), schema(), "")


def test_config_names_are_exactly_the_settings_the_chart_does_not_manage() -> None:
    """The schema's allowed `config` names are the settings' env names minus those the chart sets itself."""
    allowed = set(schema()["properties"]["config"]["propertyNames"]["enum"])
    assert allowed == files.setting_names() - files.CHART_MANAGED
    assert set(values()["config"]) <= allowed


def test_every_env_name_in_the_templates_is_a_setting() -> None:
    """Each literal `- name: X` env entry in the Deployment is a setting, and the managed ones are all set."""
    names = set(re.findall(r"- name: ([A-Z][A-Z0-9_]+)\n", template("deployment.yaml")))
    assert names <= files.setting_names(), sorted(names - files.setting_names())
    assert names >= files.CHART_MANAGED


def test_default_values_load_as_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default config, METRICS_PORT and SHUTDOWN_GRACE_SECONDS pass the settings validation."""
    for name, value in values()["config"].items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.setenv("METRICS_PORT", str(values()["metrics"]["port"]))
    monkeypatch.setenv("SHUTDOWN_GRACE_SECONDS", str(values()["shutdownGraceSeconds"]))
    settings = load_settings(env_file=None)
    assert settings.observability.metrics_port == files.setting_default("observability", "metrics_port")
    assert settings.pipeline.shutdown_grace_seconds == files.setting_default(
        "pipeline", "shutdown_grace_seconds"
    )


def test_probes_use_the_health_routes_the_service_serves() -> None:
    """Liveness probes /healthz and readiness /readyz on the metrics port; both routes exist in health.py."""
    app = build_app(CollectorRegistry(), lambda: (True, "ok"))
    routes = {resource.canonical for resource in app.router.resources()}
    assert {"/healthz", "/readyz", "/metrics"} <= routes
    deployment = template("deployment.yaml")
    assert re.search(r"livenessProbe:\s+httpGet:\s+path: /healthz\s+port: metrics", deployment)
    assert re.search(r"readinessProbe:\s+httpGet:\s+path: /readyz\s+port: metrics", deployment)


def test_termination_grace_exceeds_the_shutdown_grace() -> None:
    """terminationGracePeriodSeconds is shutdownGraceSeconds plus a positive margin."""
    assert (
        "terminationGracePeriodSeconds: {{ add (int .Values.shutdownGraceSeconds) "
        "(int .Values.terminationGraceExtraSeconds) }}" in template("deployment.yaml")
    )
    assert values()["terminationGraceExtraSeconds"] >= 1
    assert schema()["properties"]["terminationGraceExtraSeconds"]["minimum"] >= 1


def test_image_and_app_versions_match_the_package() -> None:
    """The default image tag is the chart's appVersion, which is the package version."""
    chart = files.load_yaml(files.CHART / "Chart.yaml")
    assert chart["appVersion"] == service.__version__
    assert "{{ .Values.image.tag | default .Chart.AppVersion }}" in template("deployment.yaml")


def test_scaling_defaults_stay_within_the_partition_count() -> None:
    """replicaCount and the HPA and KEDA maxima stay within the prompt topic's partitions."""
    v = values()
    assert v["promptTopicPartitions"] == files.setting_default("topics", "partitions")
    for count in (v["replicaCount"], v["autoscaling"]["maxReplicas"], v["keda"]["maxReplicaCount"]):
        assert count <= v["promptTopicPartitions"]


def test_no_secret_in_default_values() -> None:
    """The API key and SASL password are empty by default; the Secret is external or opt-in."""
    secret = values()["secret"]
    assert secret["anthropicApiKey"] == "" and secret["kafkaSaslPassword"] == ""
    assert secret["create"] is False
    assert not set(values()["config"]) & files.CHART_MANAGED


def test_metrics_port_matches_the_settings_default() -> None:
    """metrics.port is METRICS_PORT's default, used by the container port, Service and annotations."""
    assert values()["metrics"]["port"] == files.setting_default("observability", "metrics_port")
    assert "prometheus.io/port: {{ .Values.metrics.port | quote }}" in template("deployment.yaml")


def test_security_context_is_locked_down() -> None:
    """Non-root, read-only root filesystem, no privilege escalation, all capabilities dropped."""
    v = values()
    assert v["podSecurityContext"]["runAsNonRoot"] is True
    assert v["podSecurityContext"]["runAsUser"] != 0
    assert v["securityContext"]["readOnlyRootFilesystem"] is True
    assert v["securityContext"]["allowPrivilegeEscalation"] is False
    assert v["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_chart_ships_the_shared_dashboard_and_rules() -> None:
    """The sidecar ConfigMap embeds the dashboard file; the PrometheusRule embeds files/alerts.yaml."""
    assert '.Files.Get "dashboards/claude-kafka.json"' in template("dashboard-configmap.yaml")
    assert values()["dashboard"]["labels"] == {"grafana_dashboard": "1"}
    assert '.Files.Get "files/alerts.yaml"' in template("prometheusrule.yaml")
    assert values()["prometheusRule"]["enabled"] is False


# --- Rendering with Helm's own engine, when the optional helm-python-sdk (libhelm) is installed. ----------


@pytest.fixture(scope="module")
def render() -> Any:
    helm = pytest.importorskip("helm_python", reason="pip install helm-python-sdk to render the chart")

    def run(overrides: dict[str, Any] | None = None) -> dict[str, list[dict[str, Any]]]:
        with helm.Chart.load(str(files.CHART)) as chart:
            out = chart.render(overrides or {}, name="ck", namespace="test", is_install=True)
        kinds: dict[str, list[dict[str, Any]]] = {}
        for name, text in out.items():
            if name.endswith(".yaml"):
                for doc in yaml.safe_load_all(text):
                    if doc:
                        kinds.setdefault(doc["kind"], []).append(doc)
        return kinds

    return run


def env_of(deployment: dict[str, Any]) -> dict[str, Any]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e for e in container["env"]}


def test_rendered_deployment_matches_the_service(render: Any) -> None:
    """Rendered by Helm: env names are settings, grace > SHUTDOWN_GRACE_SECONDS, one metrics port."""
    kinds = render()
    deployment = kinds["Deployment"][0]
    env = env_of(deployment)
    assert set(env) <= files.setting_names()
    pod = deployment["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > float(env["SHUTDOWN_GRACE_SECONDS"]["value"])
    port = pod["containers"][0]["ports"][0]
    assert port["containerPort"] == int(env["METRICS_PORT"]["value"])
    assert kinds["Service"][0]["spec"]["ports"][0]["port"] == port["containerPort"]
    assert {"Deployment", "Service", "PodDisruptionBudget", "ConfigMap"} <= kinds.keys()
    assert "PrometheusRule" not in kinds and "ServiceMonitor" not in kinds


def test_rendered_secret_refs_come_from_an_existing_secret(render: Any) -> None:
    """With existingSecret the key is a secretKeyRef to it; the SASL password ref is optional."""
    env = env_of(render({"secret": {"existingSecret": "ck-keys"}})["Deployment"][0])
    assert env["ANTHROPIC_API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "ck-keys"
    assert env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]["optional"] is True


def test_rendered_prometheus_rule_equals_the_rule_file(render: Any) -> None:
    """The PrometheusRule's groups are files/alerts.yaml's groups, unchanged."""
    kinds = render({"prometheusRule": {"enabled": True}, "serviceMonitor": {"enabled": True}})
    assert kinds["PrometheusRule"][0]["spec"]["groups"] == files.load_yaml(files.ALERTS)["groups"]
    assert kinds["ServiceMonitor"][0]["spec"]["endpoints"][0]["port"] == "metrics"


def test_rendered_dashboard_configmap_is_the_dashboard_file(render: Any) -> None:
    """The sidecar ConfigMap carries the dashboard JSON byte for byte (modulo the trailing newline)."""
    configmap = render()["ConfigMap"][0]
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(configmap["data"]["claude-kafka.json"]) == files.dashboard()


def test_rendering_refuses_replicas_beyond_partitions(render: Any) -> None:
    """replicaCount above promptTopicPartitions fails the render instead of deploying idle pods."""
    with pytest.raises(Exception, match="exceeds promptTopicPartitions"):
        render({"replicaCount": 7})
    with pytest.raises(Exception, match="not both"):
        render({"autoscaling": {"enabled": True}, "keda": {"enabled": True}})


def test_rendered_keda_scaledobject_targets_the_group(render: Any) -> None:
    """KEDA scales on the consumer group's lag of the prompt topic, without idle consumers."""
    kinds = render({"keda": {"enabled": True}})
    trigger = kinds["ScaledObject"][0]["spec"]["triggers"][0]
    assert trigger["metadata"]["consumerGroup"] == values()["config"]["KAFKA_GROUP_ID"]
    assert trigger["metadata"]["topic"] == values()["config"]["TOPIC_PROMPTS"]
    assert "replicas" not in kinds["Deployment"][0]["spec"]
