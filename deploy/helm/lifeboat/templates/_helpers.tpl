{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "lifeboat.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-qualified base name of every object. */}}
{{- define "lifeboat.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "lifeboat.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "lifeboat.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: lifeboat
{{- end -}}

{{- define "lifeboat.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "lifeboat.configName" -}}
{{- printf "%s-config" (include "lifeboat.fullname" .) -}}
{{- end -}}

{{/* The Secret with the API token and database URL: the user's own, or the chart's. */}}
{{- define "lifeboat.secretName" -}}
{{- if .Values.secret.existingSecret -}}
{{- .Values.secret.existingSecret -}}
{{- else -}}
{{- printf "%s-secret" (include "lifeboat.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* Settings every container gets: the ConfigMap plus the two secret values. */}}
{{- define "lifeboat.commonEnv" -}}
- name: LIFEBOAT_API_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "lifeboat.secretName" . }}
      key: {{ .Values.secret.apiTokenKey }}
- name: LIFEBOAT_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "lifeboat.secretName" . }}
      key: {{ .Values.secret.databaseUrlKey }}
{{- if hasPrefix "SASL_" .Values.kafka.security.protocol }}
- name: LIFEBOAT_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "lifeboat.secretName" . }}
      key: {{ .Values.secret.kafkaSaslPasswordKey }}
{{- end }}
{{- end -}}

{{/* The link PSK as a file (replicator and migrate Job only): env, mount and volume. */}}
{{- define "lifeboat.linkPskEnv" -}}
- name: LIFEBOAT_REPLICATOR_LINK_PSK_FILE
  value: /etc/lifeboat/link/link.psk
{{- end -}}

{{- define "lifeboat.linkPskMount" -}}
- name: link-psk
  mountPath: /etc/lifeboat/link
  readOnly: true
{{- end -}}

{{- define "lifeboat.linkPskVolume" -}}
- name: link-psk
  secret:
    secretName: {{ include "lifeboat.secretName" . }}
    defaultMode: 0440
    items:
      - key: {{ .Values.secret.linkPskKey }}
        path: link.psk
{{- end -}}

{{/* The Kafka CA (kafka.security.caSecret, key ca.crt), for every container: mount and volume. */}}
{{- define "lifeboat.kafkaCaMount" -}}
{{- if .Values.kafka.security.caSecret }}
- name: kafka-ca
  mountPath: /etc/lifeboat/kafka-ca
  readOnly: true
{{- end }}
{{- end -}}

{{- define "lifeboat.kafkaCaVolume" -}}
{{- if .Values.kafka.security.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ .Values.kafka.security.caSecret }}
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- end -}}
