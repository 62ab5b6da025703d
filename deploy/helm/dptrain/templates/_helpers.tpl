{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "dptrain.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name; leaves room for the longest suffix, "-coordinator". */}}
{{- define "dptrain.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "dptrain.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "dptrain.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: dptrain
{{- end }}

{{/* Selector labels of one component: call with (list . "worker"). */}}
{{- define "dptrain.selectorLabels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: {{ include "dptrain.name" $ }}
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "dptrain.tag" -}}
{{- .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "dptrain.secretName" -}}
{{- .Values.nats.auth.existingSecret | default (printf "%s-nats" (include "dptrain.fullname" .)) }}
{{- end }}

{{/* The URL workers connect to: the external server or the coordinator's embedded one. */}}
{{- define "dptrain.natsURL" -}}
{{- .Values.nats.url | default (printf "nats://%s-coordinator:4222" (include "dptrain.fullname" .)) }}
{{- end }}

{{/* NATS client flags of a role ("coordinator" or "worker"): call with (list . "worker"). */}}
{{- define "dptrain.natsClientArgs" -}}
{{- $ := index . 0 -}}
{{- $role := index . 1 -}}
- --subject-prefix={{ $.Values.nats.subjectPrefix }}
- --nats-connect-timeout={{ $.Values.nats.connectTimeout }}
{{- if $.Values.nats.credsSecret }}
- --nats-creds=/etc/dptrain/nats-creds/{{ $role }}.creds
{{- else if or $.Values.nats.url (eq $role "worker") }}
- --nats-user={{ $role }}
{{- end }}
{{- if $.Values.nats.tlsSecret }}
- --tls-ca=/etc/dptrain/nats-tls/ca.crt
{{- if $.Values.nats.tlsClientAuth }}
- --tls-cert=/etc/dptrain/nats-tls/tls.crt
- --tls-key=/etc/dptrain/nats-tls/tls.key
{{- end }}
{{- end }}
{{- end }}

{{/* Volumes and mounts for NATS credentials and TLS files. */}}
{{- define "dptrain.natsVolumes" -}}
{{- if .Values.nats.credsSecret }}
- name: nats-creds
  secret:
    secretName: {{ .Values.nats.credsSecret }}
    defaultMode: 0400
{{- end }}
{{- if .Values.nats.tlsSecret }}
- name: nats-tls
  secret:
    secretName: {{ .Values.nats.tlsSecret }}
    defaultMode: 0400
{{- end }}
{{- end }}

{{- define "dptrain.natsVolumeMounts" -}}
{{- if .Values.nats.credsSecret }}
- name: nats-creds
  mountPath: /etc/dptrain/nats-creds
  readOnly: true
{{- end }}
{{- if .Values.nats.tlsSecret }}
- name: nats-tls
  mountPath: /etc/dptrain/nats-tls
  readOnly: true
{{- end }}
{{- end }}

{{/* HTTP probes on the metrics port. */}}
{{- define "dptrain.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: metrics
  periodSeconds: 10
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: metrics
  periodSeconds: 5
  failureThreshold: 2
{{- end }}
