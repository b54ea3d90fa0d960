# syntax=docker/dockerfile:1
# claude-kafka: build the wheel in one stage, install it into a slim runtime in the next.
# The same image runs the service (default), the topic initialiser and the API emulator:
#   docker run IMAGE                       -> claude-kafka run
#   docker run IMAGE topics create -b ...  -> claude-kafka topics create
#   docker run IMAGE emulator --host 0.0.0.0
# Pinned by version tag; pin by digest as well (python:3.11.14-slim-bookworm@sha256:...) in your registry
# mirror for byte-for-byte reproducible builds.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# Optional extras, e.g. --build-arg EXTRAS=msk (AWS MSK IAM auth), EXTRAS=otel (tracing), EXTRAS=msk,otel.
# GSSAPI (EXTRAS=gssapi) also needs the Kerberos libraries in the runtime stage, which this slim image
# does not carry.
ARG EXTRAS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# Only what the wheel needs (hatchling reads README.md for the long description).
COPY pyproject.toml README.md ./
COPY service ./service
COPY schemas ./schemas
RUN pip wheel --no-deps --wheel-dir /dist . \
 && python -m venv --without-pip /opt/venv \
 && pip --python /opt/venv/bin/python install "$(ls /dist/*.whl)${EXTRAS:+[$EXTRAS]}"

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="claude-kafka" \
      org.opencontainers.image.description="Claude on a Kafka bus" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LOG_FORMAT=json
# A fixed numeric uid so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
RUN groupadd --system --gid 10001 claude \
 && useradd --system --uid 10001 --gid claude --home-dir /app --no-create-home --shell /usr/sbin/nologin claude \
 && mkdir /app && chown claude:claude /app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER 10001:10001
# METRICS_PORT (default 9464): /metrics, /healthz, /readyz.
EXPOSE 9464
# Slim images have no curl: probe liveness with the interpreter that is already there.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('METRICS_PORT', '9464'), timeout=2)"]
ENTRYPOINT ["claude-kafka"]
CMD ["run"]
