"""The Helm chart agrees with the code: values schema, setting names, ports, grace periods, scaling caps."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import click
import jsonschema
import pytest
import yaml
from prometheus_client import CollectorRegistry

import service
from service.callbacks.runner import CallbacksRunner
from service.health import HealthServer, build_app
from service.settings import SECTIONS, env_name, load_settings
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
    """The schema's allowed `config` names are the settings' env names minus the chart's and CALLBACK_*."""
    allowed = set(schema()["properties"]["config"]["propertyNames"]["enum"])
    callbacks_only = files.section_names(files.CALLBACK_SECTION)
    assert allowed == files.setting_names() - files.CHART_MANAGED - callbacks_only
    assert set(values()["config"]) <= allowed


def test_callbacks_config_names_are_exactly_what_the_callbacks_command_reads() -> None:
    """`callbacks.config` allows every CALLBACK_* and shared name the command reads, minus the chart's own."""
    spec = schema()["properties"]["callbacks"]["properties"]["config"]
    allowed = set(spec["propertyNames"]["enum"])
    assert allowed == files.callbacks_setting_names() - files.CALLBACKS_CHART_MANAGED
    assert files.section_names(files.CALLBACK_SECTION) - files.CALLBACKS_CHART_MANAGED <= allowed
    assert set(values()["callbacks"]["config"]) <= allowed


def test_callbacks_reads_only_the_settings_the_chart_gives_it() -> None:
    """Every `settings.<section>.<field>` the callbacks code reads is in files.callbacks_setting_names()."""
    sources = [*(files.ROOT / "service" / "callbacks").glob("*.py"), files.ROOT / "service/cli/callbacks.py"]
    text = "\n".join(path.read_text(encoding="utf-8") for path in sources)
    sections = {"kafka", "callbacks"}  # read whole: the Kafka adapters and the dispatcher take the section
    reads = set(re.findall(r"settings\.(\w+)\.(\w+)", text))
    for section, field in reads:
        if section in sections or section not in SECTIONS:
            continue
        assert field in SECTIONS[section].model_fields, f"settings.{section}.{field}"
        name = env_name(SECTIONS[section], field)
        assert name in files.callbacks_setting_names(), f"callbacks read {name}, the chart does not pass it"
    touched = {section for section in re.findall(r"settings\.(\w+)", text) if section in SECTIONS}
    assert touched <= sections | {section for section, _ in files.CALLBACKS_READS}, touched


def test_callbacks_inherit_only_shared_names_from_config() -> None:
    """The names the callbacks Deployment copies from `config` are settings the callbacks command reads."""
    helpers = template("_helpers.tpl")
    block = re.search(r'define "claude-kafka.callbacks.sharedNames" -}}\n(.*?)\n', helpers)
    assert block, "sharedNames helper missing"
    shared = set(block.group(1).split())
    assert shared <= files.callbacks_setting_names() - files.CALLBACKS_CHART_MANAGED, sorted(shared)
    inherited = {n for n in values()["config"] if n in shared or n.startswith("KAFKA_")} - {"KAFKA_GROUP_ID"}
    assert inherited <= files.callbacks_setting_names()
    assert '(ne $name "KAFKA_GROUP_ID")' in template("callbacks-deployment.yaml")


def test_every_env_name_in_the_templates_is_a_setting() -> None:
    """Each literal `- name: X` env entry in the Deployment is a setting, and the managed ones are all set."""
    names = set(re.findall(r"- name: ([A-Z][A-Z0-9_]+)\n", template("deployment.yaml")))
    assert names <= files.setting_names(), sorted(names - files.setting_names())
    assert names >= files.CHART_MANAGED
    names = set(re.findall(r"- name: ([A-Z][A-Z0-9_]+)\n", template("callbacks-deployment.yaml")))
    assert names <= files.callbacks_setting_names(), sorted(names - files.callbacks_setting_names())
    assert names >= files.CALLBACKS_CHART_MANAGED
    assert "ANTHROPIC_API_KEY" not in template("callbacks-deployment.yaml")


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


def test_default_callbacks_values_load_as_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inherited `config` names plus `callbacks.config` (with a host list) pass the settings validation."""
    v = values()
    for name, value in {**v["config"], **v["callbacks"]["config"]}.items():
        if name in files.callbacks_setting_names():
            monkeypatch.setenv(name, str(value))
    monkeypatch.setenv("CALLBACK_ALLOWED_HOSTS", "hooks.acme.example")
    monkeypatch.setenv("SHUTDOWN_GRACE_SECONDS", str(v["callbacks"]["shutdownGraceSeconds"]))
    settings = load_settings(env_file=None)
    assert settings.callbacks.group_id == files.setting_default("callbacks", "group_id")
    assert settings.callbacks.group_id != settings.kafka.group_id
    assert v["callbacks"]["enabled"] is False


def test_probes_use_the_health_routes_the_service_serves() -> None:
    """Liveness probes /healthz and readiness /readyz on the metrics port; both routes exist in health.py."""
    app = build_app(CollectorRegistry(), lambda: (True, "ok"))
    routes = {resource.canonical for resource in app.router.resources()}
    assert {"/healthz", "/readyz", "/metrics"} <= routes
    for name in ("deployment.yaml", "callbacks-deployment.yaml"):
        deployment = template(name)
        assert re.search(r"livenessProbe:\s+httpGet:\s+path: /healthz\s+port: metrics", deployment), name
        assert re.search(
            r"readinessProbe:\s+(?:#.*\n\s+)?httpGet:\s+path: /readyz\s+port: metrics", deployment
        )
    # `claude-kafka callbacks` serves them too, from the same HealthServer on METRICS_PORT.
    asyncio.run(_callbacks_health_server())


async def _callbacks_health_server() -> None:
    settings = load_settings(
        env_file=None,
        observability={"metrics_port": 19464},
        callbacks={"allowed_hosts": ("example.com",), "signing_secret": "a-test-signing-secret"},
    )
    runner = CallbacksRunner(settings)
    try:
        assert isinstance(runner.health, HealthServer)  # and with METRICS_PORT=0, none (below)
    finally:
        await runner.dispatcher.stop()  # closes the clients it built (never started)
    off = load_settings(env_file=None, observability={"metrics_port": 0}, callbacks=dict(settings.callbacks))
    quiet = CallbacksRunner(off)
    try:
        assert quiet.health is None
    finally:
        await quiet.dispatcher.stop()


def test_termination_grace_exceeds_the_shutdown_grace() -> None:
    """terminationGracePeriodSeconds is shutdownGraceSeconds plus a positive margin."""
    assert (
        "terminationGracePeriodSeconds: {{ add (int .Values.shutdownGraceSeconds) "
        "(int .Values.terminationGraceExtraSeconds) }}" in template("deployment.yaml")
    )
    assert values()["terminationGraceExtraSeconds"] >= 1
    assert schema()["properties"]["terminationGraceExtraSeconds"]["minimum"] >= 1
    assert (
        "terminationGracePeriodSeconds: {{ add (int .Values.callbacks.shutdownGraceSeconds) "
        "(int .Values.callbacks.terminationGraceExtraSeconds) }}" in template("callbacks-deployment.yaml")
    )
    assert values()["callbacks"]["terminationGraceExtraSeconds"] >= 1
    callbacks = schema()["properties"]["callbacks"]["properties"]
    assert callbacks["terminationGraceExtraSeconds"]["minimum"] >= 1


def test_image_and_app_versions_match_the_package() -> None:
    """The default image tag is the chart's appVersion, which is the package version."""
    chart = files.load_yaml(files.CHART / "Chart.yaml")
    assert chart["appVersion"] == service.__version__
    assert "{{ .Values.image.tag | default .Chart.AppVersion }}" in template("deployment.yaml")


def test_scaling_defaults_stay_within_the_partition_count() -> None:
    """replicaCount and the HPA and KEDA maxima stay within the prompt topic's partitions."""
    v = values()
    assert v["promptTopicPartitions"] == files.setting_default("topics", "partitions")
    counts = (v["replicaCount"], v["autoscaling"]["maxReplicas"], v["keda"]["maxReplicaCount"])
    for count in (*counts, v["callbacks"]["replicaCount"]):
        assert count <= v["promptTopicPartitions"]


def test_no_secret_in_default_values() -> None:
    """The API key and SASL password are empty by default; the Secret is external or opt-in."""
    secret = values()["secret"]
    assert secret["anthropicApiKey"] == "" and secret["kafkaSaslPassword"] == ""
    assert secret["callbackSigningSecret"] == ""
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
    for name in ("deployment.yaml", "callbacks-deployment.yaml"):
        assert "{{- toYaml .Values.podSecurityContext | nindent 8 }}" in template(name), name
        assert "{{- toYaml .Values.securityContext | nindent 12 }}" in template(name), name


def test_chart_ships_the_shared_dashboard_and_rules() -> None:
    """The sidecar ConfigMap embeds the dashboard file; the PrometheusRule embeds files/alerts.yaml."""
    assert '.Files.Get "dashboards/claude-kafka.json"' in template("dashboard-configmap.yaml")
    assert values()["dashboard"]["labels"] == {"grafana_dashboard": "1"}
    assert '.Files.Get "files/alerts.yaml"' in template("prometheusrule.yaml")
    assert values()["prometheusRule"]["enabled"] is False


# --- Rendering with Helm's own engine, when the optional helm-python-sdk (libhelm) is installed. ----------


@pytest.fixture(scope="module")
def render() -> Any:
    import helm_python as helm  # a dev dependency: a missing package fails the run, never skips it

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


def test_tracing_env_reaches_the_service_pods_and_takes_only_otel_names(render: Any) -> None:
    """`tracing.env` becomes env entries of the Deployment; the schema refuses a name that is not OTEL_*."""
    otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SERVICE_NAME": "ck"}
    env = env_of(render({"tracing": {"env": otel}})["Deployment"][0])
    assert {name: env[name]["value"] for name in otel} == otel
    assert not any(name.startswith("OTEL_") for name in env_of(render()["Deployment"][0]))
    jsonschema.validate({**values(), "tracing": {"env": otel}}, schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**values(), "tracing": {"env": {"LOG_LEVEL": "DEBUG"}}}, schema())


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


CALLBACKS_ON = {
    "callbacks": {"enabled": True, "config": {"CALLBACK_ALLOWED_HOSTS": "hooks.acme.example"}},
    "secret": {"existingSecret": "ck-keys"},
}


def by_component(kinds: dict[str, list[dict[str, Any]]], kind: str) -> dict[str | None, dict[str, Any]]:
    """Rendered objects of one kind keyed by their app.kubernetes.io/component label (None = main)."""
    return {doc["metadata"]["labels"].get("app.kubernetes.io/component"): doc for doc in kinds.get(kind, [])}


def test_callbacks_are_off_by_default(render: Any) -> None:
    """The default render has one Deployment and no CALLBACK_* env anywhere."""
    kinds = render()
    assert len(kinds["Deployment"]) == 1
    assert not any(name.startswith("CALLBACK_") for name in env_of(kinds["Deployment"][0]))


def test_rendered_callbacks_deployment_matches_the_command(render: Any) -> None:
    """Enabled: its env is what `claude-kafka callbacks` reads, no API key, grace > its drain, own selector."""
    kinds = render(CALLBACKS_ON)
    deployments = by_component(kinds, "Deployment")
    main, callbacks = deployments[None], deployments["callbacks"]
    env = env_of(callbacks)
    assert set(env) <= files.callbacks_setting_names(), sorted(set(env) - files.callbacks_setting_names())
    assert set(env) >= files.CALLBACKS_CHART_MANAGED
    assert "ANTHROPIC_API_KEY" not in env and "KAFKA_GROUP_ID" not in env and "MAX_IN_FLIGHT" not in env
    assert env["KAFKA_BOOTSTRAP_SERVERS"]["value"] == values()["config"]["KAFKA_BOOTSTRAP_SERVERS"]
    assert env["CALLBACK_SIGNING_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "ck-keys",
        "key": values()["secret"]["keys"]["callbackSigningSecret"],
    }
    assert not any(name.startswith("CALLBACK_") for name in env_of(main))
    pod = callbacks["spec"]["template"]["spec"]
    assert pod["containers"][0]["args"] == ["callbacks"]
    assert pod["terminationGracePeriodSeconds"] > float(env["SHUTDOWN_GRACE_SECONDS"]["value"])
    assert pod["containers"][0]["ports"][0]["containerPort"] == int(env["METRICS_PORT"]["value"])
    assert pod["containers"][0]["securityContext"] == values()["securityContext"]
    assert pod["securityContext"] == values()["podSecurityContext"]
    # Neither Deployment's selector matches the other's pods (overlapping selectors fight over pods).
    for one, other in ((main, callbacks), (callbacks, main)):
        selector = one["spec"]["selector"]["matchLabels"].items()
        assert not selector <= other["spec"]["template"]["metadata"]["labels"].items()
    services = by_component(kinds, "Service")
    assert services["callbacks"]["spec"]["selector"] == callbacks["spec"]["selector"]["matchLabels"]


def test_callbacks_config_overrides_the_inherited_settings(render: Any) -> None:
    """A shared name in `callbacks.config` wins over `config` for the callbacks pods only."""
    overrides = {**CALLBACKS_ON, "callbacks": {**CALLBACKS_ON["callbacks"]}}
    overrides["callbacks"]["config"] = {**CALLBACKS_ON["callbacks"]["config"], "LOG_LEVEL": "DEBUG"}
    deployments = by_component(render(overrides), "Deployment")
    assert env_of(deployments["callbacks"])["LOG_LEVEL"]["value"] == "DEBUG"
    assert env_of(deployments[None])["LOG_LEVEL"]["value"] == values()["config"]["LOG_LEVEL"]


def test_rendering_refuses_callbacks_that_could_not_start(render: Any) -> None:
    """No host list, no signing Secret, or more pods than partitions: the render fails, naming the value."""
    with pytest.raises(Exception, match="CALLBACK_ALLOWED_HOSTS"):
        render({"callbacks": {"enabled": True}, "secret": {"existingSecret": "ck-keys"}})
    with pytest.raises(Exception, match="CALLBACK_SIGNING_SECRET"):
        render({"callbacks": CALLBACKS_ON["callbacks"]})
    with pytest.raises(Exception, match=r"callbacks\.replicaCount"):
        render({**CALLBACKS_ON, "callbacks": {**CALLBACKS_ON["callbacks"], "replicaCount": 7}})
    with pytest.raises(Exception, match="CALLBACK_MAX_ATTEMPTS"):
        render({"config": {"CALLBACK_MAX_ATTEMPTS": "3"}})


def test_rendered_callbacks_monitoring(render: Any) -> None:
    """With the ServiceMonitor and PDB on, the callbacks pods get their own, selecting only them."""
    kinds = render({**CALLBACKS_ON, "serviceMonitor": {"enabled": True}})
    callbacks = by_component(kinds, "Deployment")["callbacks"]["spec"]["selector"]["matchLabels"]
    assert by_component(kinds, "ServiceMonitor")["callbacks"]["spec"]["selector"]["matchLabels"] == callbacks
    assert (
        by_component(kinds, "PodDisruptionBudget")["callbacks"]["spec"]["selector"]["matchLabels"]
        == callbacks
    )


def test_rendered_topics_job_creates_the_deployments_topics(
    render: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pre-install/upgrade hook Job runs `topics create` with the Deployment's Kafka and topic settings."""
    from service.cli import main
    from service.kafka.topics import topic_specs

    kinds = render({"secret": {"existingSecret": "ck-keys"}})
    job = kinds["Job"][0]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    assert "serviceAccountName" not in pod  # the chart's ServiceAccount does not exist before install
    container = pod["containers"][0]
    assert container["image"] == kinds["Deployment"][0]["spec"]["template"]["spec"]["containers"][0]["image"]
    args = container["args"]
    assert args == ["topics", "create", "--partitions", str(values()["promptTopicPartitions"])]
    topics_group = main.commands["topics"]
    assert isinstance(topics_group, click.Group)
    parsed = topics_group.commands["create"].make_context("create", args[2:])
    assert parsed.params["partitions"] == values()["promptTopicPartitions"]
    job_env = {e["name"]: e for e in container["env"]}
    deployment_env = env_of(kinds["Deployment"][0])
    # Every Kafka and topic setting of the pods, with the same value or the same Secret reference.
    shared = {n for n in deployment_env if n.startswith(("KAFKA_", "TOPIC_"))}
    assert shared and {n: job_env.get(n) for n in shared} == {n: deployment_env[n] for n in shared}
    assert "ANTHROPIC_API_KEY" not in job_env  # creating topics needs no API key
    assert set(job_env) <= files.setting_names()
    for name, entry in job_env.items():
        if "value" in entry:
            monkeypatch.setenv(name, entry["value"])
    settings = load_settings(env_file=None)
    expected = {"claude.prompts", "claude.deltas", "claude.completions", "claude.errors", "claude.batches"}
    expected |= {"claude.tool-calls", "claude.tool-results", "claude.runs", "claude.sessions"}
    assert {spec.name for spec in topic_specs(settings, int(args[3]))} == expected
    assert settings.kafka.bootstrap_servers == values()["config"]["KAFKA_BOOTSTRAP_SERVERS"]


def test_rendered_chart_secret_exists_before_the_topics_job(render: Any) -> None:
    """With secret.create the Secret is a pre-install hook of lower weight, so the Job can read it."""
    kinds = render({"secret": {"create": True, "anthropicApiKey": "sk-ant-x"}})
    secret, job = kinds["Secret"][0]["metadata"]["annotations"], kinds["Job"][0]["metadata"]["annotations"]
    assert secret["helm.sh/hook"] == job["helm.sh/hook"]
    assert int(secret["helm.sh/hook-weight"]) < int(job["helm.sh/hook-weight"])
    env = {e["name"]: e for e in kinds["Job"][0]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert (
        env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"]
        == kinds["Secret"][0]["metadata"]["name"]
    )


def test_topics_job_can_be_turned_off(render: Any) -> None:
    """topicsJob.enabled=false renders no Job, and the chart's Secret is an ordinary release resource."""
    kinds = render(
        {"topicsJob": {"enabled": False}, "secret": {"create": True, "anthropicApiKey": "sk-ant-x"}}
    )
    assert "Job" not in kinds
    assert "annotations" not in kinds["Secret"][0]["metadata"]


def test_statefulset_option_gives_each_pod_its_name_as_static_member_id(render: Any) -> None:
    """workload.kind=StatefulSet: KAFKA_GROUP_INSTANCE_ID is the pod name; the autoscalers follow the kind."""
    kinds = render({"workload": {"kind": "StatefulSet"}, "autoscaling": {"enabled": True}})
    assert "Deployment" not in kinds
    [statefulset] = kinds["StatefulSet"]
    env = env_of(statefulset)
    assert env["KAFKA_GROUP_INSTANCE_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert statefulset["spec"]["podManagementPolicy"] == "Parallel" and "strategy" not in statefulset["spec"]
    assert statefulset["spec"]["serviceName"] == kinds["Service"][0]["metadata"]["name"]
    assert kinds["HorizontalPodAutoscaler"][0]["spec"]["scaleTargetRef"]["kind"] == "StatefulSet"
    keda = render({"workload": {"kind": "StatefulSet"}, "keda": {"enabled": True}})["ScaledObject"][0]
    assert keda["spec"]["scaleTargetRef"]["kind"] == "StatefulSet"
    # A Deployment's pods get random names: no static membership there.
    assert "KAFKA_GROUP_INSTANCE_ID" not in env_of(render()["Deployment"][0])
    with pytest.raises(Exception, match="invalid propertyName 'KAFKA_GROUP_INSTANCE_ID'"):
        render({"config": {"KAFKA_GROUP_INSTANCE_ID": "same-for-every-pod"}})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**values(), "workload": {"kind": "DaemonSet"}}, schema())


def test_the_oauth_client_secret_comes_from_the_secret(render: Any) -> None:
    """KAFKA_SASL_OAUTH_CLIENT_SECRET is an optional key of the Secret for the pods and the topics Job."""
    kinds = render({"secret": {"existingSecret": "ck-keys"}})
    for workload in (kinds["Deployment"][0], kinds["Job"][0]):
        ref = env_of(workload)["KAFKA_SASL_OAUTH_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "ck-keys", "key": "KAFKA_SASL_OAUTH_CLIENT_SECRET", "optional": True}
    with pytest.raises(Exception, match="invalid propertyName 'KAFKA_SASL_OAUTH_CLIENT_SECRET'"):
        render({"config": {"KAFKA_SASL_OAUTH_CLIENT_SECRET": "x"}})
