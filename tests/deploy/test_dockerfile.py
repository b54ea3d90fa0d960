"""Dockerfile and .dockerignore: pinned bases, non-root runtime, the service as entrypoint, a healthcheck."""

from __future__ import annotations

import json
import re

from tests.deploy import files

DOCKERFILE = files.ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    rows = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            rows.append((keyword.upper(), rest.strip()))
    return rows


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            found.append([])
        if found:
            found[-1].append((keyword, rest))
    return found


def resolved_bases() -> list[str]:
    args = {}
    for keyword, rest in instructions():
        if keyword == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            args[name] = value
    bases = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            image = rest.split()[0]
            bases.append(re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image))
    return bases


def final_stage() -> list[tuple[str, str]]:
    return stages()[-1]


def test_base_images_are_pinned_to_a_version() -> None:
    """Every FROM names an image with a full version tag (or a digest), never latest or a bare name."""
    bases = resolved_bases()
    assert len(bases) >= 2, "expected a multi-stage build"
    for image in bases:
        assert "@sha256:" in image or re.search(r":\d+\.\d+\.\d+", image), image
        assert not image.endswith(":latest"), image


def test_runtime_stage_runs_as_a_numeric_non_root_user() -> None:
    """The final stage's USER is a non-zero uid, so Kubernetes runAsNonRoot can verify it."""
    users = [rest for keyword, rest in final_stage() if keyword == "USER"]
    assert users, "final stage has no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0


def test_runtime_stage_has_no_build_tooling() -> None:
    """The final stage copies the built venv and installs nothing: no compilers, no pip wheel, no apt."""
    for keyword, rest in final_stage():
        if keyword == "RUN":
            assert not re.search(r"apt-get|apk |pip |gcc|build-essential|\bwheel\b", rest), rest
    copies = [rest for keyword, rest in final_stage() if keyword == "COPY"]
    assert copies and all(rest.startswith("--from=build") for rest in copies), copies


def test_default_command_is_claude_kafka_run() -> None:
    """ENTRYPOINT plus CMD run `claude-kafka run`; other commands replace only CMD (topics, emulator)."""
    entry = json.loads(next(rest for keyword, rest in final_stage() if keyword == "ENTRYPOINT"))
    cmd = json.loads(next(rest for keyword, rest in final_stage() if keyword == "CMD"))
    assert entry + cmd == ["claude-kafka", "run"]


def test_healthcheck_probes_healthz_on_the_metrics_port_with_python() -> None:
    """HEALTHCHECK uses python (slim images have no curl) against /healthz on METRICS_PORT's default."""
    check = next(rest for keyword, rest in final_stage() if keyword == "HEALTHCHECK")
    assert '"python"' in check and "/healthz" in check and "curl" not in check
    assert f"'{files.setting_default('observability', 'metrics_port')}'" in check
    assert "METRICS_PORT" in check


def test_exposed_port_is_the_metrics_port() -> None:
    """EXPOSE matches the METRICS_PORT default in the settings."""
    exposed = [rest for keyword, rest in final_stage() if keyword == "EXPOSE"]
    assert exposed == [str(files.setting_default("observability", "metrics_port"))]


def test_dockerignore_keeps_secrets_and_clutter_out_but_not_build_inputs() -> None:
    """.dockerignore excludes .env, .git and the venv, and none of the paths the Dockerfile copies."""
    ignored = {
        line.strip()
        for line in (files.ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".env", ".git", ".venv"} <= ignored
    copied = set()
    for keyword, rest in instructions():
        if keyword == "COPY" and not rest.startswith("--from"):
            copied.update(rest.split()[:-1])
    assert copied and not copied & ignored
    for path in copied:
        assert (files.ROOT / path).exists(), path
