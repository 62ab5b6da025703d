{{/* The coordinator's pod template, shared by the Job and the Deployment. */}}
{{- define "dptrain.coordinatorPod" -}}
metadata:
  labels:
    {{- include "dptrain.labels" . | nindent 4 }}
    app.kubernetes.io/component: coordinator
spec:
  restartPolicy: {{ ternary "OnFailure" "Always" (eq .Values.coordinator.kind "Job") }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  enableServiceLinks: false
  containers:
    - name: coordinator
      image: "{{ .Values.image.coordinator }}:{{ include "dptrain.tag" . }}"
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - train
        - --train=/data/{{ .Values.coordinator.trainFile }}
        {{- if .Values.nats.url }}
        - --nats={{ .Values.nats.url }}
        {{- else }}
        - --nats-listen=0.0.0.0:4222
        - --nats-data=/nats
        - --nats-auth-user=worker
        {{- end }}
        {{- include "dptrain.natsClientArgs" (list . "coordinator") | nindent 8 }}
        - --local-workers=0
        - --workers={{ .Values.coordinator.workers | default .Values.worker.replicas }}
        - --data-via=nats
        - --metrics-addr=:{{ .Values.metrics.port }}
        - --report=/out/report.json
        - --out=/out/model.safetensors
        - --log-format=json
        - --log-level={{ .Values.coordinator.logLevel }}
        {{- range .Values.coordinator.args }}
        - {{ . | quote }}
        {{- end }}
      env:
        - name: TMPDIR
          value: /tmp
        {{- if not .Values.nats.credsSecret }}
        {{- if .Values.nats.url }}
        - name: DPT_NATS_PASSWORD
          valueFrom:
            secretKeyRef:
              name: {{ include "dptrain.secretName" . }}
              key: coordinator-password
        {{- else }}
        - name: DPT_NATS_AUTH_PASSWORD
          valueFrom:
            secretKeyRef:
              name: {{ include "dptrain.secretName" . }}
              key: worker-password
        {{- end }}
        {{- end }}
      ports:
        - name: metrics
          containerPort: {{ .Values.metrics.port }}
          protocol: TCP
        {{- if not .Values.nats.url }}
        - name: nats
          containerPort: 4222
          protocol: TCP
        {{- end }}
      {{- include "dptrain.probes" . | nindent 6 }}
      resources:
        {{- toYaml .Values.coordinator.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: data
          mountPath: /data
          readOnly: true
        - name: out
          mountPath: /out
        - name: tmp
          mountPath: /tmp
        {{- if not .Values.nats.url }}
        - name: nats
          mountPath: /nats
        {{- end }}
        {{- with (include "dptrain.natsVolumeMounts" .) }}{{ . | nindent 8 }}{{ end }}
  volumes:
    - name: data
      {{- toYaml .Values.data.volume | nindent 6 }}
    - name: out
      {{- toYaml .Values.output.volume | nindent 6 }}
    - name: tmp
      emptyDir: {}
    {{- if not .Values.nats.url }}
    - name: nats
      {{- toYaml .Values.coordinator.natsStorage | nindent 6 }}
    {{- end }}
    {{- with (include "dptrain.natsVolumes" .) }}{{ . | nindent 4 }}{{ end }}
  {{- with .Values.coordinator.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.coordinator.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.coordinator.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
