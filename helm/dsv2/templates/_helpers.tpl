{{/*
Shared helpers. Every component (gateway, router, expert) has a values block of the same shape; the helpers below take
a dict {"root": $, "component": "<name>"} and read .Values.<component> from it, so each template stays a thin
component x kind file.
*/}}

{{/* Chart name, overridable. */}}
{{- define "dsv2.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Prefix of every object name: the release name (or fullnameOverride). Kept to 40 characters so that
"<prefix>-expert-headless" and the StatefulSet pod names "<prefix>-expert-<i>" stay valid DNS labels.
*/}}
{{- define "dsv2.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- end }}

{{/* "<prefix>-<component>", the name of a component's workload and Service. Argument: {root, component}. */}}
{{- define "dsv2.componentName" -}}
{{- printf "%s-%s" (include "dsv2.fullname" .root) .component }}
{{- end }}

{{/* Name of the expert StatefulSet's governing headless Service. Argument: the root context. */}}
{{- define "dsv2.expertHeadlessName" -}}
{{- printf "%s-expert-headless" (include "dsv2.fullname" .) }}
{{- end }}

{{/* Labels that select one component's pods. Argument: {root, component}. */}}
{{- define "dsv2.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dsv2.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Labels on every object of a component. Argument: {root, component}. */}}
{{- define "dsv2.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "dsv2.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: dsv2
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{/* Labels on objects that belong to no single component (the model PVC, the service account). */}}
{{- define "dsv2.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "dsv2.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: dsv2
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "dsv2.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "dsv2.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Container image "<registry>/<repository>:<tag>". The component's image block wins over global.image; the tag falls back
to the chart's appVersion, never to "latest". Argument: {root, component}.
*/}}
{{- define "dsv2.image" -}}
{{- $global := .root.Values.global.image }}
{{- $image := (index .root.Values .component).image }}
{{- $registry := trimSuffix "/" (default $global.registry $image.registry) }}
{{- $tag := default .root.Chart.AppVersion (default $global.tag $image.tag) }}
{{- if $registry }}
{{- printf "%s/%s:%s" $registry $image.repository $tag }}
{{- else }}
{{- printf "%s:%s" $image.repository $tag }}
{{- end }}
{{- end }}

{{- define "dsv2.imagePullPolicy" -}}
{{- default .root.Values.global.image.pullPolicy (index .root.Values .component).image.pullPolicy }}
{{- end }}

{{/* Directory of the checkpoint inside every container: <model.mountPath>/<model.name>. */}}
{{- define "dsv2.modelDir" -}}
{{- printf "%s/%s" (trimSuffix "/" .Values.model.mountPath) .Values.model.name }}
{{- end }}

{{/*
The router's DSV2_ROUTER_EXPERTS: the stable DNS name and gRPC port of every expert pod, all shards times all replicas,
"<prefix>-expert-<i>.<prefix>-expert-headless.<namespace>.svc:<port>" for i in [0, shards * replicationFactor).
*/}}
{{- define "dsv2.expertAddresses" -}}
{{- $prefix := include "dsv2.fullname" . }}
{{- $headless := include "dsv2.expertHeadlessName" . }}
{{- $port := int .Values.expert.ports.grpc }}
{{- $addresses := list }}
{{- range $ordinal := until (include "dsv2.expertPods" . | int) }}
{{- $addresses = append $addresses (printf "%s-expert-%d.%s.%s.svc:%d" $prefix $ordinal $headless $.Release.Namespace $port) }}
{{- end }}
{{- join "," $addresses }}
{{- end }}

{{/* Number of expert pods: shards x replicationFactor. */}}
{{- define "dsv2.expertPods" -}}
{{- mul (int .Values.expert.shards) (int .Values.expert.replicationFactor) }}
{{- end }}

{{/*
Cross-field checks that values.schema.json cannot express. Each failure names the values involved and what to do.
*/}}
{{- define "dsv2.validate" -}}
{{- $model := .Values.model }}
{{- if not (or $model.pvc.existingClaim $model.pvc.create $model.download.enabled) }}
{{- fail "model: no source for the weights: set model.pvc.existingClaim (a PVC holding <model.name>/config.json and the safetensors), model.pvc.create=true, or model.download.enabled=true" }}
{{- end }}
{{- range $component := list "router" "expert" }}
{{- $values := index $.Values $component }}
{{- if and $values.gpu.enabled (eq $values.backend "cpu") }}
{{- fail (printf "%s.gpu.enabled=true contradicts %s.backend=cpu: use backend cuda or auto, or disable the GPU request" $component $component) }}
{{- end }}
{{- if and (eq $values.backend "cuda") (not $values.gpu.enabled) }}
{{- fail (printf "%s.backend=cuda needs a GPU: set %s.gpu.enabled=true (or backend auto/cpu)" $component $component) }}
{{- end }}
{{- end }}
{{- if and .Values.gateway.tls.enabled (not .Values.gateway.tls.secretName) }}
{{- fail "gateway.tls.enabled=true needs gateway.tls.secretName: a kubernetes.io/tls Secret with tls.crt and tls.key (e.g. written by a cert-manager Certificate)" }}
{{- end }}
{{- if .Values.internalTls.enabled }}
{{- range $component := list "gateway" "router" "expert" }}
{{- if not (include "dsv2.internalTlsSecret" (dict "root" $ "component" $component)) }}
{{- fail (printf "internalTls.enabled=true needs a Secret for the %s: set internalTls.secretName (shared) or internalTls.secretNames.%s (kubernetes.io/tls with tls.crt, tls.key, ca.crt)" $component $component) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and .Values.kafka.enabled (not .Values.kafka.bootstrapServers) }}
{{- fail "kafka.enabled=true needs kafka.bootstrapServers (e.g. my-cluster-kafka-bootstrap.kafka.svc:9092)" }}
{{- end }}
{{- end }}

{{/*
Pod-level settings every component shares: service account, security context, pull secrets, scheduling, the model
volume and (when enabled) the download init container. Argument: {root, component}.
*/}}
{{- define "dsv2.podSpecCommon" -}}
{{- $root := .root }}
{{- $values := index $root.Values .component -}}
serviceAccountName: {{ include "dsv2.serviceAccountName" $root }}
automountServiceAccountToken: false
{{- with $root.Values.global.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- with $values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if $root.Values.model.download.enabled }}
initContainers:
  {{- include "dsv2.downloadContainer" $root | nindent 2 }}
{{- end }}
volumes:
  - name: model
    {{- if $root.Values.model.pvc.existingClaim }}
    persistentVolumeClaim:
      claimName: {{ $root.Values.model.pvc.existingClaim }}
      readOnly: {{ not $root.Values.model.download.enabled }}
    {{- else if $root.Values.model.pvc.create }}
    persistentVolumeClaim:
      claimName: {{ include "dsv2.fullname" $root }}-model
      readOnly: {{ not $root.Values.model.download.enabled }}
    {{- else }}
    emptyDir:
      sizeLimit: {{ $root.Values.model.size }}
    {{- end }}
  - name: tmp
    emptyDir: {}
  {{- if include "dsv2.publicTls" . }}
  - name: tls-public
    secret:
      secretName: {{ $root.Values.gateway.tls.secretName }}
      defaultMode: 0440
  {{- end }}
  {{- with include "dsv2.internalTlsSecret" . }}
  - name: tls-internal
    secret:
      secretName: {{ . }}
      defaultMode: 0440
  {{- end }}
{{- end }}

{{/*
TLS helpers. Secrets are mounted read-only under /etc/dsv2/tls/{public,internal}; the services read the PEM files
named by DSV2_TLS_* (public, gateway only) and DSV2_INTERNAL_TLS_* (mTLS between the services).
"dsv2.publicTls": "true" when the component serves its public ports over TLS (the gateway with gateway.tls.enabled).
"dsv2.internalTlsSecret": the component's mTLS Secret name, empty when internal TLS is off. Argument: {root, component}.
*/}}
{{- define "dsv2.publicTls" -}}
{{- if and (eq .component "gateway") .root.Values.gateway.tls.enabled }}true{{ end }}
{{- end }}

{{- define "dsv2.internalTlsSecret" -}}
{{- $tls := .root.Values.internalTls }}
{{- if $tls.enabled }}
{{- default $tls.secretName (index (default (dict) $tls.secretNames) .component) }}
{{- end }}
{{- end }}

{{/* Env vars and mounts of the TLS settings. Argument: {root, component}. */}}
{{- define "dsv2.tlsEnv" -}}
{{- if include "dsv2.publicTls" . }}
- name: DSV2_TLS_CERT
  value: /etc/dsv2/tls/public/tls.crt
- name: DSV2_TLS_KEY
  value: /etc/dsv2/tls/public/tls.key
{{- end }}
{{- if include "dsv2.internalTlsSecret" . }}
- name: DSV2_INTERNAL_TLS_CERT
  value: /etc/dsv2/tls/internal/tls.crt
- name: DSV2_INTERNAL_TLS_KEY
  value: /etc/dsv2/tls/internal/tls.key
- name: DSV2_INTERNAL_TLS_CA
  value: /etc/dsv2/tls/internal/ca.crt
{{- with .root.Values.internalTls.authority }}
- name: DSV2_INTERNAL_TLS_AUTHORITY
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}

{{- define "dsv2.tlsMounts" -}}
{{- if include "dsv2.publicTls" . }}
- name: tls-public
  mountPath: /etc/dsv2/tls/public
  readOnly: true
{{- end }}
{{- if include "dsv2.internalTlsSecret" . }}
- name: tls-internal
  mountPath: /etc/dsv2/tls/internal
  readOnly: true
{{- end }}
{{- end }}

{{/*
Init container that fetches the checkpoint from the Hugging Face hub into the model volume. snapshot_download skips
files already present, so on a shared PVC only the first pod downloads. Argument: the root context.
*/}}
{{- define "dsv2.downloadContainer" -}}
{{- $download := .Values.model.download -}}
- name: download-model
  image: {{ $download.image }}
  imagePullPolicy: {{ .Values.global.image.pullPolicy }}
  command: ["/bin/sh", "-ec"]
  args:
    - |
      pip install --user --no-cache-dir --disable-pip-version-check "$HUB_PACKAGE"
      python - <<'PY'
      import json, os
      from huggingface_hub import snapshot_download
      path = snapshot_download(repo_id=os.environ["HF_REPO"], revision=os.environ["HF_REVISION"],
                               local_dir=os.environ["DSV2_MODEL_DIR"],
                               allow_patterns=json.loads(os.environ["HF_INCLUDE"]))
      print("checkpoint ready in", path)
      PY
  env:
    - name: HOME
      value: /tmp
    - name: HF_HOME
      value: /tmp/hf
    - name: HUB_PACKAGE
      value: {{ $download.hubPackage | quote }}
    - name: HF_REPO
      value: {{ $download.repo | quote }}
    - name: HF_REVISION
      value: {{ $download.revision | quote }}
    - name: HF_INCLUDE
      value: {{ toJson $download.include | quote }}
    - name: DSV2_MODEL_DIR
      value: {{ include "dsv2.modelDir" . | quote }}
    {{- if $download.tokenSecret.name }}
    - name: HF_TOKEN
      valueFrom:
        secretKeyRef:
          name: {{ $download.tokenSecret.name }}
          key: {{ $download.tokenSecret.key }}
    {{- end }}
  securityContext:
    {{- toYaml .Values.containerSecurityContext | nindent 4 }}
  {{- with $download.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  volumeMounts:
    - name: model
      mountPath: {{ .Values.model.mountPath }}
    - name: tmp
      mountPath: /tmp
{{- end }}

{{/*
Container settings every component shares: image, the two named ports, environment common to all services, probes,
resources, mounts. Argument: {root, component, env} where env is the component's own env list (YAML text).
*/}}
{{- define "dsv2.container" -}}
{{- $root := .root }}
{{- $values := index $root.Values .component -}}
- name: {{ .component }}
  image: {{ include "dsv2.image" . }}
  imagePullPolicy: {{ include "dsv2.imagePullPolicy" . }}
  ports:
    - name: http
      containerPort: {{ $values.ports.http }}
      protocol: TCP
    - name: grpc
      containerPort: {{ $values.ports.grpc }}
      protocol: TCP
  env:
    - name: QUARKUS_HTTP_PORT
      value: {{ $values.ports.http | quote }}
    - name: QUARKUS_GRPC_SERVER_PORT
      value: {{ $values.ports.grpc | quote }}
    - name: DSV2_MODEL_DIR
      value: {{ include "dsv2.modelDir" $root | quote }}
    {{- with .env }}
    {{- . | nindent 4 }}
    {{- end }}
    {{- with include "dsv2.tlsEnv" . }}
    {{- . | nindent 4 }}
    {{- end }}
    {{- with $values.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- include "dsv2.probes" (dict "probes" $values.probes "scheme" (ternary "HTTPS" "HTTP" (eq (include "dsv2.publicTls" .) "true"))) | nindent 2 }}
  resources:
    {{- include "dsv2.resources" $values | nindent 4 }}
  securityContext:
    {{- toYaml $root.Values.containerSecurityContext | nindent 4 }}
  volumeMounts:
    - name: model
      mountPath: {{ $root.Values.model.mountPath }}
      readOnly: true
    - name: tmp
      mountPath: /tmp
    {{- with include "dsv2.tlsMounts" . }}
    {{- . | nindent 4 }}
    {{- end }}
{{- end }}

{{/*
Startup, liveness and readiness probes on the Quarkus health endpoints, all on the container port named "http".
The startup probe allows failureThreshold x periodSeconds for loading the weights; liveness and readiness only start
once it has passed. The scheme is HTTPS where the port serves TLS only (the gateway with gateway.tls.enabled; the
kubelet does not verify the certificate). Argument: {probes: a component's probes block, scheme: HTTP|HTTPS}.
*/}}
{{- define "dsv2.probes" -}}
{{- $p := .probes -}}
startupProbe:
  httpGet:
    path: /q/health/started
    port: http
    scheme: {{ .scheme }}
  periodSeconds: {{ $p.startup.periodSeconds }}
  failureThreshold: {{ $p.startup.failureThreshold }}
  timeoutSeconds: {{ $p.startup.timeoutSeconds }}
livenessProbe:
  httpGet:
    path: /q/health/live
    port: http
    scheme: {{ .scheme }}
  periodSeconds: {{ $p.liveness.periodSeconds }}
  failureThreshold: {{ $p.liveness.failureThreshold }}
  timeoutSeconds: {{ $p.liveness.timeoutSeconds }}
readinessProbe:
  httpGet:
    path: /q/health/ready
    port: http
    scheme: {{ .scheme }}
  periodSeconds: {{ $p.readiness.periodSeconds }}
  failureThreshold: {{ $p.readiness.failureThreshold }}
  timeoutSeconds: {{ $p.readiness.timeoutSeconds }}
{{- end }}

{{/*
A component's resources, plus "<gpu.resourceName>: <gpu.count>" in both requests and limits when gpu.enabled.
Argument: a component's values block.
*/}}
{{- define "dsv2.resources" -}}
{{- $resources := deepCopy (default (dict) .resources) }}
{{- if and .gpu .gpu.enabled }}
{{- $limits := default (dict) $resources.limits }}
{{- $_ := set $limits .gpu.resourceName (int .gpu.count) }}
{{- $_ := set $resources "limits" $limits }}
{{- $requests := default (dict) $resources.requests }}
{{- $_ := set $requests .gpu.resourceName (int .gpu.count) }}
{{- $_ := set $resources "requests" $requests }}
{{- end }}
{{- toYaml $resources }}
{{- end }}

{{/* The PodDisruptionBudget of a component, when its pdb.enabled. Argument: {root, component}. */}}
{{- define "dsv2.podDisruptionBudget" -}}
{{- $values := index .root.Values .component }}
{{- if $values.pdb.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "dsv2.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "dsv2.labels" . | nindent 4 }}
spec:
  maxUnavailable: {{ $values.pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "dsv2.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end }}

{{/*
The ServiceMonitor of a component (Prometheus Operator CRD), when serviceMonitor.enabled: scrapes /q/metrics on the
port named "http" of the component's Service. Argument: {root, component}.
*/}}
{{- define "dsv2.serviceMonitor" -}}
{{- $monitor := .root.Values.serviceMonitor }}
{{- if $monitor.enabled }}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "dsv2.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "dsv2.labels" . | nindent 4 }}
    {{- with $monitor.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "dsv2.selectorLabels" . | nindent 6 }}
  namespaceSelector:
    matchNames:
      - {{ .root.Release.Namespace }}
  endpoints:
    - port: http
      path: /q/metrics
      interval: {{ $monitor.interval }}
      scrapeTimeout: {{ $monitor.scrapeTimeout }}
      {{- if include "dsv2.publicTls" . }}
      {{- $gatewayTls := .root.Values.gateway.tls }}
      scheme: https
      tlsConfig:
        {{- if $gatewayTls.serviceMonitorTlsConfig }}
        {{- toYaml $gatewayTls.serviceMonitorTlsConfig | nindent 8 }}
        {{- else }}
        ca:
          secret:
            name: {{ $gatewayTls.secretName }}
            key: ca.crt
        serverName: {{ printf "%s.%s.svc" (include "dsv2.componentName" .) .root.Release.Namespace }}
        {{- end }}
      {{- end }}
{{- end }}
{{- end }}

{{/*
The namespaces allowed to scrape metrics: networkPolicy.monitoring.namespaceSelector when set, else the namespace named
networkPolicy.monitoring.namespace. Argument: the root context.
*/}}
{{- define "dsv2.monitoringNamespaceSelector" -}}
{{- $monitoring := .Values.networkPolicy.monitoring }}
{{- if $monitoring.namespaceSelector }}
{{- toYaml $monitoring.namespaceSelector }}
{{- else -}}
matchLabels:
  kubernetes.io/metadata.name: {{ $monitoring.namespace }}
{{- end }}
{{- end }}

{{/*
The ingress rule that lets the monitoring namespace(s) scrape the metrics port. Argument: {root, component}.
*/}}
{{- define "dsv2.metricsIngressRule" -}}
{{- $monitoring := .root.Values.networkPolicy.monitoring -}}
- from:
    - namespaceSelector:
        {{- include "dsv2.monitoringNamespaceSelector" .root | nindent 8 }}
      {{- with $monitoring.podSelector }}
      podSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
  ports:
    - protocol: TCP
      port: {{ (index .root.Values .component).ports.http }}
{{- end }}
