{{/* Names, labels, images and the shared pod pieces of every component; all named aggregator.*. */}}

{{/* Chart name, overridable. */}}
{{- define "aggregator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-scoped base name: <release>-aggregator unless the release name already holds it. */}}
{{- define "aggregator.fullname" -}}
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

{{/* Name of one component's objects. Call with (dict "root" $ "component" "gateway"). */}}
{{- define "aggregator.componentName" -}}
{{- printf "%s-%s" (include "aggregator.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "aggregator.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "aggregator.labels" -}}
app.kubernetes.io/name: {{ include "aggregator.name" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: aggregator
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels of one component's objects. Call with (dict "root" $ "component" "gateway"). */}}
{{- define "aggregator.componentLabels" -}}
{{ include "aggregator.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Selector of one component's pods; never changes across upgrades. */}}
{{- define "aggregator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aggregator.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The commonAnnotations block of an object's metadata (indented for it), or nothing. */}}
{{- define "aggregator.annotations" -}}
{{- with .Values.commonAnnotations }}
  annotations: {{- toYaml . | nindent 4 }}
{{- end }}
{{- end -}}

{{/* The container's env block: Kafka/Redis secrets by reference and the component's extraEnvVars, or nothing. Call with (dict "root" $ "values" .Values.gateway "clients" true). */}}
{{- define "aggregator.containerEnv" -}}
{{- $env := "" -}}
{{- if .clients }}{{ $env = include "aggregator.clientEnv" .root | trim }}{{ end -}}
{{- if or $env .values.extraEnvVars -}}
env:
  {{- with $env }}{{ . | nindent 2 }}{{ end }}
  {{- with .values.extraEnvVars }}{{ toYaml . | nindent 2 }}{{ end }}
{{- end }}
{{- end -}}

{{/* Image reference. Call with (dict "root" $ "image" .Values.gateway.image). A digest wins over the tag. */}}
{{- define "aggregator.image" -}}
{{- $registry := default .image.registry .root.Values.global.imageRegistry -}}
{{- $repo := ternary (printf "%s/%s" $registry .image.repository) .image.repository (ne $registry "") -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $repo .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .root.Chart.AppVersion .image.tag | toString) -}}
{{- end -}}
{{- end -}}

{{- define "aggregator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "aggregator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The gateway Service's URL for callbacks: its callback port. */}}
{{- define "aggregator.callbackUrl" -}}
{{- if .Values.gateway.callbackUrl -}}
{{- .Values.gateway.callbackUrl -}}
{{- else -}}
{{- printf "%s://%s.%s.svc:%v/aggregate/callback" (ternary "https" "http" (ne .Values.gateway.tls.existingSecret "")) (include "aggregator.componentName" (dict "root" . "component" "gateway")) (include "aggregator.namespace" .) .Values.gateway.service.ports.callback -}}
{{- end -}}
{{- end -}}

{{/* RESOURCE_URLS: the configured resources, else the demo resource-sims of this release. */}}
{{- define "aggregator.resourceUrls" -}}
{{- $entries := list -}}
{{- if .Values.resources.list -}}
{{- range .Values.resources.list -}}
{{- $entries = append $entries (printf "%s=%s" .name .url) -}}
{{- end -}}
{{- else if .Values.resourceSim.enabled -}}
{{- range .Values.resourceSim.instances -}}
{{- $entries = append $entries (printf "%s=http://%s.%s.svc:%v" . (include "aggregator.componentName" (dict "root" $ "component" .)) (include "aggregator.namespace" $) $.Values.resourceSim.service.port) -}}
{{- end -}}
{{- end -}}
{{- join "," $entries -}}
{{- end -}}

{{/* Pod-level pieces shared by every component. Call with (dict "root" $ "values" .Values.gateway). */}}
{{- define "aggregator.podCommon" -}}
serviceAccountName: {{ include "aggregator.serviceAccountName" .root }}
automountServiceAccountToken: {{ .root.Values.serviceAccount.automountServiceAccountToken }}
enableServiceLinks: false
{{- with .root.Values.global.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- if .values.podSecurityContext.enabled }}
securityContext: {{- omit .values.podSecurityContext "enabled" | toYaml | nindent 2 }}
{{- end }}
{{- with .values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .values.affinity }}
affinity: {{- toYaml .values.affinity | nindent 2 }}
{{- else if eq .values.podAntiAffinityPreset "soft" }}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels: {{- include "aggregator.selectorLabels" (dict "root" .root "component" .component) | nindent 14 }}
{{- else if eq .values.podAntiAffinityPreset "hard" }}
affinity:
  podAntiAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      - topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels: {{- include "aggregator.selectorLabels" (dict "root" .root "component" .component) | nindent 12 }}
{{- end }}
{{- with .values.topologySpreadConstraints }}
topologySpreadConstraints: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Container-level securityContext of a component, without the chart's "enabled" switch. */}}
{{- define "aggregator.containerSecurityContext" -}}
{{- if .containerSecurityContext.enabled -}}
securityContext: {{- omit .containerSecurityContext "enabled" | toYaml | nindent 2 }}
{{- end -}}
{{- end -}}

{{/* An HTTP probe from values. Call with (dict "probe" .Values.gateway.livenessProbe "path" "/actuator/health/liveness" "port" "http"), and "https" true for a TLS port. */}}
{{- define "aggregator.httpProbe" -}}
httpGet:
  path: {{ .path }}
  port: {{ .port }}
  {{- if .https }}
  scheme: HTTPS
  {{- end }}
{{ omit .probe "enabled" | toYaml }}
{{- end -}}

{{/* Pod annotations: the given ones, plus checksums so that a changed configuration rolls the pods. */}}
{{- define "aggregator.podAnnotations" -}}
checksum/config: {{ include (print .root.Template.BasePath "/common/configmap.yaml") .root | sha256sum }}
checksum/secret: {{ include (print .root.Template.BasePath "/common/secret.yaml") .root | sha256sum }}
{{- with .values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Name of the Secret holding the Redis password. */}}
{{- define "aggregator.redis.secretName" -}}
{{- default (printf "%s-redis" (include "aggregator.fullname" .)) .Values.redis.auth.existingSecret -}}
{{- end -}}

{{/* Name of the Secret holding the Redis Sentinel password. */}}
{{- define "aggregator.redis.sentinelSecretName" -}}
{{- default (printf "%s-redis-sentinel" (include "aggregator.fullname" .)) .Values.redis.sentinel.auth.existingSecret -}}
{{- end -}}

{{/* Name of the Secret holding the Kafka SASL password. */}}
{{- define "aggregator.kafka.saslSecretName" -}}
{{- default (printf "%s-kafka" (include "aggregator.fullname" .)) .Values.kafka.sasl.existingSecret -}}
{{- end -}}

{{/* Name of the Secret holding the callback signing key. */}}
{{- define "aggregator.callbackSigning.secretName" -}}
{{- default (printf "%s-callback-signing" (include "aggregator.fullname" .)) .Values.callbackSigning.existingSecret -}}
{{- end -}}

{{/* Environment of the Kafka and Redis clients (gateway and worker): secrets by reference (the callback signing keys too), TLS files from the mounted Secret. */}}
{{- define "aggregator.clientEnv" -}}
- name: CALLBACK_SIGNING_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "aggregator.callbackSigning.secretName" . }}
      key: {{ .Values.callbackSigning.secretKey }}
{{- with .Values.callbackSigning.previousSecretKey }}
- name: CALLBACK_SIGNING_KEY_PREVIOUS
  valueFrom:
    secretKeyRef:
      name: {{ include "aggregator.callbackSigning.secretName" $ }}
      key: {{ . }}
{{- end }}
{{- if .Values.redis.auth.enabled }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "aggregator.redis.secretName" . }}
      key: {{ .Values.redis.auth.existingSecretPasswordKey }}
{{- end }}
{{- if and .Values.redis.sentinel.enabled .Values.redis.sentinel.auth.enabled }}
- name: REDIS_SENTINEL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "aggregator.redis.sentinelSecretName" . }}
      key: {{ .Values.redis.sentinel.auth.existingSecretPasswordKey }}
{{- end }}
{{- if hasPrefix "sasl" .Values.kafka.securityProtocol }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "aggregator.kafka.saslSecretName" . }}
      key: {{ .Values.kafka.sasl.existingSecretPasswordKey }}
{{- end }}
{{- end -}}

{{/* Volumes of a Kafka/Redis client pod: /tmp, and the Kafka TLS Secret when TLS is on. */}}
{{- define "aggregator.clientVolumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 16Mi
{{- if .Values.kafka.tls.existingSecret }}
- name: kafka-tls
  secret:
    secretName: {{ .Values.kafka.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{- define "aggregator.clientVolumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.kafka.tls.existingSecret }}
- name: kafka-tls
  mountPath: /etc/aggregator/kafka-tls
  readOnly: true
{{- end }}
{{- end -}}

{{/* NetworkPolicy peer: the pods of one component of this release. Call with (dict "root" $ "component" "worker"). */}}
{{- define "aggregator.peerComponent" -}}
- podSelector:
    matchLabels: {{- include "aggregator.selectorLabels" . | nindent 6 }}
{{- end -}}

{{/* NetworkPolicy peer: the demo resource-sims of this release. */}}
{{- define "aggregator.peerResourceSims" -}}
- podSelector:
    matchLabels:
      app.kubernetes.io/name: {{ include "aggregator.name" . }}
      app.kubernetes.io/instance: {{ .Release.Name }}
      aggregator/role: resource-sim
{{- end -}}

{{/* Egress rules every aggregator pod needs: DNS, if enabled. */}}
{{- define "aggregator.egressDns" -}}
{{- if .Values.networkPolicy.dns.enabled -}}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: kube-system
      podSelector:
        matchLabels:
          k8s-app: kube-dns
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end }}
{{- end -}}

{{/* A NetworkPolicy rule (egress "to" or ingress "from") from peers and ports. Call with (dict "dir" "to" "peers" list "ports" list). Empty peers: any address. */}}
{{- define "aggregator.policyRule" -}}
{{- $ports := list -}}
{{- range .ports }}{{ $ports = append $ports (dict "port" . "protocol" "TCP") }}{{ end -}}
{{- $rule := dict "ports" $ports -}}
{{- if .peers }}{{ $_ := set $rule .dir .peers }}{{ end -}}
{{- list $rule | toYaml -}}
{{- end -}}

{{/* Egress of a Kafka and Redis client (gateway, worker). */}}
{{- define "aggregator.egressKafkaRedis" -}}
{{ include "aggregator.policyRule" (dict "dir" "to" "peers" .Values.networkPolicy.kafka.to "ports" .Values.networkPolicy.kafka.ports) }}
{{- $redisPorts := .Values.networkPolicy.redis.ports -}}
{{- if .Values.redis.sentinel.enabled }}{{ $redisPorts = append $redisPorts .Values.redis.sentinel.port | uniq }}{{ end }}
{{ include "aggregator.policyRule" (dict "dir" "to" "peers" .Values.networkPolicy.redis.to "ports" $redisPorts) }}
{{- end -}}

{{/* The gateway's TLS Secret as a volume (with its mount below), when gateway.tls.existingSecret is set. Call with (dict "root" $ "keys" (list ...)): the Secret's keys to project. */}}
{{- define "aggregator.gatewayTlsVolume" -}}
{{- if .root.Values.gateway.tls.existingSecret -}}
- name: gateway-tls
  secret:
    secretName: {{ .root.Values.gateway.tls.existingSecret }}
    defaultMode: 0440
    items:
      {{- range .keys }}
      - {key: {{ . }}, path: {{ . }}}
      {{- end }}
{{- end }}
{{- end -}}

{{- define "aggregator.gatewayTlsMount" -}}
{{- if .Values.gateway.tls.existingSecret -}}
- name: gateway-tls
  mountPath: /etc/aggregator/tls
  readOnly: true
{{- end }}
{{- end -}}
