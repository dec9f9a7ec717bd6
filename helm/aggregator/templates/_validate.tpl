{{/* validateValues: every check names the value to change and how; all failures are reported at once. */}}
{{- define "aggregator.validateValues" -}}
{{- $messages := list -}}
{{- $messages = append $messages (include "aggregator.validateValues.endpoints" .) -}}
{{- $messages = append $messages (include "aggregator.validateValues.gracePeriods" .) -}}
{{- $messages = append $messages (include "aggregator.validateValues.workerReplicas" .) -}}
{{- $messages = append $messages (include "aggregator.validateValues.autoscaling" .) -}}
{{- $messages = append $messages (include "aggregator.validateValues.kafkaSecurity" .) -}}
{{- $messages = append $messages (include "aggregator.validateValues.redisAuth" .) -}}
{{- $messages = append $messages (include "aggregator.validateValues.callbacks" .) -}}
{{- $messages = append $messages (include "aggregator.validateValues.gatewayConfig" .) -}}
{{- $messages = without $messages "" -}}
{{- if $messages -}}
{{- printf "\nVALUES VALIDATION:\n%s" (join "\n" $messages) | fail -}}
{{- end -}}
{{- end -}}

{{- define "aggregator.validateValues.endpoints" -}}
{{- if not .Values.kafka.brokers }}
aggregator: kafka.brokers
    Kafka's bootstrap servers are required: set kafka.brokers=host:port[,host:port...]
{{- end }}
{{- if .Values.redis.sentinel.enabled }}
{{- if lt (len .Values.redis.sentinel.hosts) 1 }}
aggregator: redis.sentinel.hosts
    redis.sentinel.enabled needs the sentinels: set redis.sentinel.hosts (host:port, 3 or more for a quorum)
{{- end }}
{{- if ne (int .Values.redis.db) 0 }}
aggregator: redis.db
    Through Sentinel the database is always 0: set redis.db=0
{{- end }}
{{- $sa := .Values.redis.sentinel.auth }}
{{- if and $sa.enabled (not (or $sa.password $sa.existingSecret)) }}
aggregator: redis.sentinel.auth.existingSecret
    redis.sentinel.auth.enabled needs a password: set redis.sentinel.auth.existingSecret (a Secret with key {{ $sa.existingSecretPasswordKey }}) or redis.sentinel.auth.password
{{- end }}
{{- else if not .Values.redis.host }}
aggregator: redis.host
    Redis is required: set redis.host (and redis.port)
{{- end }}
{{- end -}}

{{- define "aggregator.validateValues.gracePeriods" -}}
{{- $drain := int .Values.config.shutdownTimeoutSeconds -}}
{{- range $component := list "gateway" "worker" }}
{{- $grace := int (get $.Values $component).terminationGracePeriodSeconds -}}
{{- if le $grace $drain }}
aggregator: {{ $component }}.terminationGracePeriodSeconds
    The grace period ({{ $grace }} s) must exceed the drain, config.shutdownTimeoutSeconds ({{ $drain }} s),
    or Kubernetes kills the {{ $component }} in the middle of it: set {{ $component }}.terminationGracePeriodSeconds={{ add $drain 10 }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "aggregator.validateValues.workerReplicas" -}}
{{- $partitions := int .Values.kafka.topics.partitions -}}
{{- $w := .Values.worker -}}
{{- $checks := list (list "worker.replicaCount" (int $w.replicaCount) (not (or $w.autoscaling.enabled $w.keda.enabled))) (list "worker.autoscaling.maxReplicas" (int $w.autoscaling.maxReplicas) (and $w.autoscaling.enabled (not $w.keda.enabled))) (list "worker.keda.maxReplicaCount" (int $w.keda.maxReplicaCount) $w.keda.enabled) -}}
{{- range $checks }}
{{- if and (index . 2) (gt (index . 1) $partitions) }}
aggregator: {{ index . 0 }}
    {{ index . 1 }} workers for {{ $partitions }} partitions: a worker must own a partition of each topic, the others stay idle standbys.
    Set {{ index . 0 }}={{ $partitions }} or less, or create the topics with more partitions and set kafka.topics.partitions
{{- end }}
{{- end }}
{{- end -}}

{{- define "aggregator.validateValues.autoscaling" -}}
{{- range $component := list "gateway" "worker" }}
{{- $a := (get $.Values $component).autoscaling -}}
{{- if and $a.enabled (gt (int $a.minReplicas) (int $a.maxReplicas)) }}
aggregator: {{ $component }}.autoscaling
    minReplicas ({{ $a.minReplicas }}) is above maxReplicas ({{ $a.maxReplicas }}): lower {{ $component }}.autoscaling.minReplicas
{{- end }}
{{- end }}
{{- $k := .Values.worker.keda -}}
{{- if and $k.enabled $k.maxReplicaCount (gt (int $k.minReplicaCount) (int $k.maxReplicaCount)) }}
aggregator: worker.keda
    minReplicaCount ({{ $k.minReplicaCount }}) is above maxReplicaCount ({{ $k.maxReplicaCount }}): lower worker.keda.minReplicaCount
{{- end }}
{{- end -}}

{{- define "aggregator.validateValues.kafkaSecurity" -}}
{{- $k := .Values.kafka -}}
{{- if hasPrefix "sasl" $k.securityProtocol }}
{{- if not $k.sasl.username }}
aggregator: kafka.sasl.username
    kafka.securityProtocol={{ $k.securityProtocol }} needs a user: set kafka.sasl.username
{{- end }}
{{- if not (or $k.sasl.password $k.sasl.existingSecret) }}
aggregator: kafka.sasl.existingSecret
    kafka.securityProtocol={{ $k.securityProtocol }} needs a password: set kafka.sasl.existingSecret (a Secret with key {{ $k.sasl.existingSecretPasswordKey }}) or kafka.sasl.password
{{- end }}
{{- end }}
{{- if and $k.tls.existingSecret (not (hasSuffix "ssl" $k.securityProtocol)) }}
aggregator: kafka.tls.existingSecret
    TLS files are given but kafka.securityProtocol={{ $k.securityProtocol }} does not use TLS: set kafka.securityProtocol=ssl or sasl_ssl
{{- end }}
{{- if and $k.tls.existingSecret (ne (empty $k.tls.certKey) (empty $k.tls.keyKey)) }}
aggregator: kafka.tls.certKey
    A client certificate needs its key and the reverse: set both kafka.tls.certKey and kafka.tls.keyKey, or neither
{{- end }}
{{- end -}}

{{- define "aggregator.validateValues.redisAuth" -}}
{{- $r := .Values.redis -}}
{{- if and $r.auth.enabled (not (or $r.auth.password $r.auth.existingSecret)) }}
aggregator: redis.auth.existingSecret
    redis.auth.enabled needs a password: set redis.auth.existingSecret (a Secret with key {{ $r.auth.existingSecretPasswordKey }}) or redis.auth.password
{{- end }}
{{- if $r.tls.enabled }}
aggregator: redis.tls.enabled
    TLS to Redis is not supported yet (the Redis client, hiredis 0.14 of Debian 12, has none): set redis.tls.enabled=false
    and keep Redis on a network only the aggregator reaches (networkPolicy.redis.ingressPodSelector)
{{- end }}
{{- end -}}

{{- define "aggregator.validateValues.callbacks" -}}
{{- if and .Values.networkPolicy.enabled .Values.resources.list (not .Values.resources.callbackFrom) }}
aggregator: resources.callbackFrom
    The NetworkPolicy lets only the resources reach the gateways' callback port, and no resource address is given:
    set resources.callbackFrom to their peers (e.g. - ipBlock: {cidr: 10.20.0.0/16}), or networkPolicy.enabled=false
{{- end }}
{{- range .Values.resources.list }}
{{- if not (and .name .url) }}
aggregator: resources.list
    Every resource needs a name and a url (e.g. {name: hospital-a, url: https://journal.hospital-a.example}); got {{ toJson . }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "aggregator.validateValues.gatewayConfig" -}}
{{- $g := .Values.gateway -}}
{{- if and (eq $g.auth.mode "jwt") (not $g.auth.existingSecret) }}
aggregator: gateway.auth.existingSecret
    gateway.auth.mode=jwt needs the verification key: set gateway.auth.existingSecret (a Secret with key {{ $g.auth.secretKey }}, a {{ $g.auth.keyType }})
{{- end }}
{{- if eq (int $g.containerPorts.http) (int $g.containerPorts.callback) }}
aggregator: gateway.containerPorts.callback
    The callback port must differ from the API port ({{ $g.containerPorts.http }}): callbacks are isolated on their own port
{{- end }}
{{- if gt (int $g.timeoutDefaultMs) (int $g.timeoutMaxMs) }}
aggregator: gateway.timeoutDefaultMs
    The default session timeout ({{ $g.timeoutDefaultMs }} ms) is above the maximum, gateway.timeoutMaxMs ({{ $g.timeoutMaxMs }} ms): lower it
{{- end }}
{{- range $component := list "gateway" "worker" }}
{{- $managed := keys (include (printf "aggregator.managedKeys.%s" $component) $ | fromYaml) -}}
{{- range $name, $_ := (get $.Values $component).extraConfig }}
{{- if has $name $managed }}
aggregator: {{ $component }}.extraConfig.{{ $name }}
    {{ $name }} is set by the chart from its own value: remove it from {{ $component }}.extraConfig and set the value the README names for it
{{- end }}
{{- end }}
{{- end }}
{{- end -}}
