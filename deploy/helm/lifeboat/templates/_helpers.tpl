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

{{/* The verifier's report signing key: a file from the Secret, never an environment variable. */}}
{{- define "lifeboat.signingKeyEnv" -}}
- name: LIFEBOAT_VERIFIER_SIGNING_KEY_FILE
  value: /etc/lifeboat/signing/report-signing-key.pem
{{- end -}}

{{- define "lifeboat.signingKeyMount" -}}
- name: report-signing-key
  mountPath: /etc/lifeboat/signing
  readOnly: true
{{- end -}}

{{- define "lifeboat.signingKeyVolume" -}}
- name: report-signing-key
  secret:
    secretName: {{ include "lifeboat.secretName" . }}
    defaultMode: 0440
    items:
      - key: {{ .Values.secret.reportSigningKeyKey }}
        path: report-signing-key.pem
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

{{/* Labels that select one component's pods. */}}
{{- define "lifeboat.selector" -}}
app.kubernetes.io/name: {{ include "lifeboat.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The clouds.yaml Secret: the user's own, the chart's, or none (empty). */}}
{{- define "lifeboat.cloudsSecretName" -}}
{{- if .Values.clouds.existingSecret -}}
{{- .Values.clouds.existingSecret -}}
{{- else if .Values.clouds.cloudsYaml -}}
{{- printf "%s-clouds" (include "lifeboat.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* The Ceph Secret: the user's own, the chart's, or none (empty). */}}
{{- define "lifeboat.cephSecretName" -}}
{{- if .Values.ceph.existingSecret -}}
{{- .Values.ceph.existingSecret -}}
{{- else if .Values.ceph.files -}}
{{- printf "%s-ceph" (include "lifeboat.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* LIFEBOAT_REPLICATOR_RBD_SITES as JSON, paths under the Ceph Secret's mount. */}}
{{- define "lifeboat.rbdSites" -}}
{{- $sites := dict -}}
{{- range $site, $c := .Values.ceph.sites -}}
{{- $_ := set $sites $site (dict "ceph_conf" (printf "/etc/lifeboat/ceph/%s" $c.cephConf) "keyring" (printf "/etc/lifeboat/ceph/%s" $c.keyring) "user" $c.user "pools" ($c.pools | default (list "volumes"))) -}}
{{- end -}}
{{- toJson $sites -}}
{{- end -}}

{{/* clouds.yaml and Ceph for a container that talks to clouds: env (arg: dict root, name). */}}
{{- define "lifeboat.cloudEnv" -}}
{{- if include "lifeboat.cloudsSecretName" .root }}
- name: LIFEBOAT_{{ upper .name }}_CLOUDS_YAML
  value: /etc/lifeboat/clouds/clouds.yaml
- name: OS_CLIENT_CONFIG_FILE
  value: /etc/lifeboat/clouds/clouds.yaml
{{- end }}
{{- if and (include "lifeboat.cephSecretName" .root) .root.Values.ceph.sites }}
- name: LIFEBOAT_REPLICATOR_RBD_SITES
  value: {{ include "lifeboat.rbdSites" .root | quote }}
{{- end }}
{{- end -}}

{{- define "lifeboat.cloudMounts" -}}
{{- if include "lifeboat.cloudsSecretName" . }}
- name: clouds
  mountPath: /etc/lifeboat/clouds
  readOnly: true
{{- end }}
{{- if include "lifeboat.cephSecretName" . }}
- name: ceph
  mountPath: /etc/lifeboat/ceph
  readOnly: true
{{- end }}
{{- end -}}

{{- define "lifeboat.cloudVolumes" -}}
{{- with include "lifeboat.cloudsSecretName" . }}
- name: clouds
  secret:
    secretName: {{ . }}
    defaultMode: 0440
    items:
      - key: clouds.yaml
        path: clouds.yaml
{{- end }}
{{- with include "lifeboat.cephSecretName" . }}
- name: ceph
  secret:
    secretName: {{ . }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{/* HTTP probes on /healthz (liveness) and /readyz (readiness), on the container's http port. */}}
{{- define "lifeboat.httpProbes" -}}
{{- range $kind, $probe := .Values.probes }}
{{ $kind }}Probe:
  httpGet:
    path: {{ $probe.path }}
    port: http
  initialDelaySeconds: {{ $probe.initialDelaySeconds }}
  periodSeconds: {{ $probe.periodSeconds }}
  timeoutSeconds: {{ $probe.timeoutSeconds }}
  failureThreshold: {{ $probe.failureThreshold }}
{{- end }}
{{- end -}}
