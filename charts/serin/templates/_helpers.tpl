{{/* Chart name, overridable. */}}
{{- define "serin.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects; also the leader-election Lease's name. */}}
{{- define "serin.fullname" -}}
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

{{- define "serin.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "serin.selectorLabels" -}}
app.kubernetes.io/name: {{ include "serin.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "serin.labels" -}}
helm.sh/chart: {{ include "serin.chart" . }}
{{ include "serin.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "serin.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "serin.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
"true" when leader election is on: leaderElection.enabled true, or "auto" with more
than one replica; "" otherwise (so it can be used in `if`).
*/}}
{{- define "serin.leaderElection" -}}
{{- $le := .Values.leaderElection.enabled }}
{{- if eq (toString $le) "auto" }}
{{- if gt (int .Values.replicaCount) 1 }}true{{ end }}
{{- else if eq (toString $le) "true" }}true
{{- end }}
{{- end }}

{{/* The RBAC rules of `serin rbac`, without the leases rule (see rbac.yaml). */}}
{{- define "serin.rules" -}}
- apiGroups: ["serin.dev"]
  resources: ["canaries"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["serin.dev"]
  resources: ["canaries/status"]
  verbs: ["update", "patch"]
- apiGroups: ["serin.dev"]
  resources: ["canaryactions"]
  verbs: ["get", "list", "watch", "delete"]
- apiGroups: ["serin.dev"]
  resources: ["canaryactions/status"]
  verbs: ["patch"]
- apiGroups: ["serin.dev"]
  resources: ["metrictemplates"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["serin.dev"]
  resources: ["alertproviders"]
  verbs: ["get"]
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: ["apps"]
  resources: ["deployments/scale"]
  verbs: ["patch"]
- apiGroups: [""]
  resources: ["services"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
{{- if has "istio" .Values.routers }}
- apiGroups: ["networking.istio.io"]
  resources: ["virtualservices", "destinationrules"]
  verbs: ["get", "list", "watch", "create", "patch"]
{{- end }}
{{- if has "gatewayapi" .Values.routers }}
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["httproutes", "grpcroutes"]
  verbs: ["get", "list", "watch", "create", "patch"]
{{- end }}
- apiGroups: ["autoscaling"]
  resources: ["horizontalpodautoscalers"]
  verbs: ["list", "watch", "create", "patch", "delete"]
- apiGroups: ["keda.sh"]
  resources: ["scaledobjects"]
  verbs: ["list", "watch", "create", "patch", "delete"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/* The leader-election rule of `serin rbac`: the Lease in the release namespace. */}}
{{- define "serin.leaseRules" -}}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "create", "patch", "update"]
{{- end }}

{{/* What the viewer role grants (the operator adds creating CanaryActions). */}}
{{- define "serin.viewerRules" -}}
- apiGroups: ["serin.dev"]
  resources: ["canaries", "canaryactions"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["get", "list", "watch"]
{{- end }}
