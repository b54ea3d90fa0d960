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
{{- range $name, $_ := .Values.config }}
{{- if has $name (list "METRICS_PORT" "SHUTDOWN_GRACE_SECONDS" "ANTHROPIC_API_KEY" "KAFKA_SASL_PASSWORD" "KAFKA_SSL_PASSWORD") }}
{{- fail (printf "config.%s is set by the chart (metrics.port, shutdownGraceSeconds or the Secret)" $name) }}
{{- end }}
{{- end }}
{{- end }}
