{{/* Names and labels. */}}
{{- define "vernissage.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "vernissage.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "vernissage.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "vernissage.webImage" -}}
{{ printf "%s:%s" .Values.image.web.repository .Values.image.web.tag }}
{{- end -}}

{{- define "vernissage.workerImage" -}}
{{ printf "%s:%s" .Values.image.worker.repository .Values.image.worker.tag }}
{{- end -}}

{{/* A model's Kubernetes name part: registry names may hold "_", which DNS names may not. */}}
{{- define "vernissage.modelSlug" -}}
{{- .registry.name | replace "_" "-" | lower -}}
{{- end -}}

{{/* The most workers a model can have: the dispatcher keeps that many of its jobs in flight. */}}
{{- define "vernissage.modelSlots" -}}
{{- if and .worker.autoscaling .worker.autoscaling.enabled -}}
{{- .worker.autoscaling.maxReplicas -}}
{{- else -}}
{{- .worker.replicas -}}
{{- end -}}
{{- end -}}

{{/* VERNISSAGE_MODELS: every model's registry entry with its slots. Web, dispatcher and workers
     must see the same list. */}}
{{- define "vernissage.modelsJson" -}}
{{- $entries := list -}}
{{- range .Values.models -}}
{{- $slots := include "vernissage.modelSlots" . | int -}}
{{- $entries = append $entries (merge (dict "slots" $slots) .registry) -}}
{{- end -}}
{{- toJson $entries -}}
{{- end -}}

{{/* The environment of every Vernissage container (no ConfigMap: the migrate hook runs before
     the release's other resources exist). Secrets come from .Values.existingSecret. */}}
{{- define "vernissage.env" -}}
- {name: VERNISSAGE_PRODUCTION, value: "1"}
- {name: DJANGO_ALLOWED_HOSTS, value: {{ .Values.host | quote }}}
- {name: VERNISSAGE_SITE_URL, value: {{ printf "https://%s" .Values.host | quote }}}
- {name: DJANGO_CSRF_TRUSTED_ORIGINS, value: {{ printf "https://%s" .Values.host | quote }}}
- {name: REDIS_URL, value: {{ .Values.redis.url | quote }}}
- {name: VERNISSAGE_TRUSTED_PROXY_COUNT, value: "1"}
- {name: VERNISSAGE_MODELS, value: {{ include "vernissage.modelsJson" . | quote }}}
{{- range $name, $value := .Values.extraEnv }}
- {name: {{ $name }}, value: {{ $value | quote }}}
{{- end }}
{{- end -}}

{{- define "vernissage.envFrom" -}}
- secretRef: {name: {{ .Values.existingSecret }}}
{{- end -}}

{{/* Probe headers: a production web process answers only its own host name, over HTTPS (the
     proxy's X-Forwarded-Proto); the same headers as scripts/probe_health.py. */}}
{{- define "vernissage.probeHeaders" -}}
httpHeaders:
  - {name: Host, value: {{ .Values.host | quote }}}
  - {name: X-Forwarded-Proto, value: https}
{{- end -}}

{{- define "vernissage.dataClaim" -}}
{{- .Values.persistence.data.existingClaim | default (printf "%s-data" (include "vernissage.fullname" .)) -}}
{{- end -}}

{{- define "vernissage.modelsClaim" -}}
{{- .Values.persistence.models.existingClaim | default (printf "%s-models" (include "vernissage.fullname" .)) -}}
{{- end -}}
