{{- define "claude-kafka.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "claude-kafka.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "claude-kafka.selectorLabels" -}}
app.kubernetes.io/name: {{ include "claude-kafka.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "claude-kafka.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "claude-kafka.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "claude-kafka.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "claude-kafka.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The callbacks pods: another app name, so the main Deployment, Service and PDB never select them. */}}
{{- define "claude-kafka.callbacks.fullname" -}}
{{- printf "%s-callbacks" (include "claude-kafka.fullname" . | trunc 53 | trimSuffix "-") }}
{{- end }}

{{- define "claude-kafka.callbacks.selectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-callbacks" (include "claude-kafka.name" . | trunc 53 | trimSuffix "-") }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: callbacks
{{- end }}

{{- define "claude-kafka.callbacks.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "claude-kafka.callbacks.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The Secret holding CALLBACK_SIGNING_SECRET: callbacks.existingSecret, else the chart's Secret. */}}
{{- define "claude-kafka.callbacks.secretName" -}}
{{- .Values.callbacks.existingSecret | default (include "claude-kafka.secretName" .) }}
{{- end }}

{{/*
The names `claude-kafka callbacks` shares with `run`, inherited from `config` (one place for the Kafka
connection): KAFKA_* but KAFKA_GROUP_ID (its group is CALLBACK_GROUP_ID) and these.
*/}}
{{- define "claude-kafka.callbacks.sharedNames" -}}
TOPIC_COMPLETIONS TOPIC_ERRORS REBALANCE_GRACE_SECONDS METRICS_HOST LOG_LEVEL LOG_FORMAT
{{- end }}

{{/* The Secret the pods read: an existing one, the chart's own, or none (emulator / dev). */}}
{{- define "claude-kafka.secretName" -}}
{{- if .Values.secret.existingSecret }}
{{- .Values.secret.existingSecret }}
{{- else if .Values.secret.create }}
{{- include "claude-kafka.fullname" . }}
{{- end }}
{{- end }}

{{/* Render-time checks: scaling beyond the partition count and conflicting autoscalers. */}}
{{- define "claude-kafka.validate" -}}
{{- $partitions := int .Values.promptTopicPartitions }}
{{- if gt (int .Values.replicaCount) $partitions }}
{{- fail (printf "replicaCount (%d) exceeds promptTopicPartitions (%d): the extra replicas would get no partition" (int .Values.replicaCount) $partitions) }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.maxReplicas) $partitions) }}
{{- fail (printf "autoscaling.maxReplicas (%d) exceeds promptTopicPartitions (%d)" (int .Values.autoscaling.maxReplicas) $partitions) }}
{{- end }}
{{- if and .Values.keda.enabled (gt (int .Values.keda.maxReplicaCount) $partitions) }}
{{- fail (printf "keda.maxReplicaCount (%d) exceeds promptTopicPartitions (%d)" (int .Values.keda.maxReplicaCount) $partitions) }}
{{- end }}
{{- if and .Values.autoscaling.enabled .Values.keda.enabled }}
{{- fail "enable autoscaling (HPA) or keda, not both: KEDA creates its own HPA" }}
{{- end }}
{{- if .Values.callbacks.enabled }}
{{- if gt (int .Values.callbacks.replicaCount) $partitions }}
{{- fail (printf "callbacks.replicaCount (%d) exceeds promptTopicPartitions (%d): the completion and error topics have as many partitions" (int .Values.callbacks.replicaCount) $partitions) }}
{{- end }}
{{- if not (get (.Values.callbacks.config | default dict) "CALLBACK_ALLOWED_HOSTS") }}
{{- fail "callbacks.enabled needs callbacks.config.CALLBACK_ALLOWED_HOSTS: `claude-kafka callbacks` refuses to start without it" }}
{{- end }}
{{- if not (or .Values.callbacks.existingSecret .Values.secret.existingSecret (and .Values.secret.create .Values.secret.callbackSigningSecret)) }}
{{- fail "callbacks.enabled needs a Secret with CALLBACK_SIGNING_SECRET: set callbacks.existingSecret or secret.existingSecret (or secret.create with secret.callbackSigningSecret, dev only)" }}
{{- end }}
{{- end }}
{{- range $name, $_ := .Values.config }}
{{- if has $name (list "METRICS_PORT" "SHUTDOWN_GRACE_SECONDS" "ANTHROPIC_API_KEY" "ANTHROPIC_AUTH_TOKEN" "KAFKA_SASL_PASSWORD" "KAFKA_SSL_PASSWORD" "KAFKA_SASL_OAUTH_CLIENT_SECRET" "KAFKA_GROUP_INSTANCE_ID") }}
{{- fail (printf "config.%s is set by the chart (metrics.port, shutdownGraceSeconds, the Secret, or workload.kind=StatefulSet for the group instance id)" $name) }}
{{- end }}
{{- end }}
{{- end }}
