{{/*
Names, labels and the shared pieces of the operator's two Deployments.
*/}}

{{- define "odoo-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "odoo-operator.fullname" -}}
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

{{- define "odoo-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "odoo-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: call with (dict "root" $ "component" "watcher"). */}}
{{- define "odoo-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "odoo-operator.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end -}}

{{- define "odoo-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "odoo-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "odoo-operator.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "odoo-operator.configName" -}}
{{- printf "%s-config" (include "odoo-operator.fullname" .) -}}
{{- end -}}

{{- define "odoo-operator.webhookServiceName" -}}
{{- printf "%s-webhook" (include "odoo-operator.fullname" .) -}}
{{- end -}}

{{- define "odoo-operator.webhookSecretName" -}}
{{- printf "%s-webhook-tls" (include "odoo-operator.fullname" .) -}}
{{- end -}}

{{/* The DNS names the API server checks the webhook's certificate against. */}}
{{- define "odoo-operator.webhookHosts" -}}
{{- $service := include "odoo-operator.webhookServiceName" . -}}
{{- list (printf "%s.%s.svc" $service .Release.Namespace) (printf "%s.%s.svc.cluster.local" $service .Release.Namespace) | toJson -}}
{{- end -}}

{{/*
RBAC: the rules of files/rbac-rules.yaml (one list, shared with sandbox/operator_rbac.py
and the tests), split by where the chart grants them. Resources named here are
compared without their subresource (odooinstances/status counts as odooinstances).
*/}}

{{/* Cluster-scoped: granted only by the ClusterRole (cluster-wide watching); with a
list of namespaces they are not needed (they serve glob patterns only). */}}
{{- define "odoo-operator.clusterScopedResources" -}}
{{- list "namespaces" "customresourcedefinitions" | toJson -}}
{{- end -}}

{{/* Used only in the operator's own namespace: granted there by a Role, never
cluster-wide (the watcher's Lease). */}}
{{- define "odoo-operator.operatorNamespaceResources" -}}
{{- list "leases" | toJson -}}
{{- end -}}

{{/* What the operator's namespace needs when it is not watched itself: the clusters
Secret and the image pull Secrets (secrets) and the Lease. */}}
{{- define "odoo-operator.ownNamespaceResources" -}}
{{- list "secrets" "leases" | toJson -}}
{{- end -}}

{{/* The rules filtered by resource: (dict "rules" $rules "only" $list) keeps the
resources in $list, (dict "rules" $rules "except" $list) drops them; a rule left
without resources is dropped. Returns a YAML list. */}}
{{- define "odoo-operator.filterRules" -}}
{{- $out := list -}}
{{- range .rules -}}
{{- $rule := . -}}
{{- $kept := list -}}
{{- range $rule.resources -}}
{{- $base := first (splitList "/" .) -}}
{{- if hasKey $ "only" -}}
{{- if has $base $.only -}}{{- $kept = append $kept . -}}{{- end -}}
{{- else if not (has $base $.except) -}}
{{- $kept = append $kept . -}}
{{- end -}}
{{- end -}}
{{- if $kept -}}
{{- $out = append $out (merge (dict "resources" $kept) (omit $rule "resources")) -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{- define "odoo-operator.rules" -}}
{{- .Files.Get "files/rbac-rules.yaml" | fromYamlArray | toJson -}}
{{- end -}}

{{/* The pod template parts both Deployments share: call with (dict "root" $ "component"
"watcher" "command" "watch" "values" .Values.watcher "extraAnnotations" (dict ...)). */}}
{{- define "odoo-operator.podTemplate" -}}
{{- $root := .root -}}
{{- $values := $root.Values -}}
metadata:
  labels:
    {{- include "odoo-operator.selectorLabels" (dict "root" $root "component" .component) | nindent 4 }}
    {{- with $values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # A change of the operator's settings (the ConfigMap) rolls the pods.
    checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
    {{- with .extraAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    {{- with $values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "odoo-operator.serviceAccountName" $root }}
  {{- with $values.imagePullSecrets }}
  imagePullSecrets:
    {{- range . }}
    - name: {{ . }}
    {{- end }}
  {{- end }}
  {{- with $values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    {{- toYaml $values.podSecurityContext | nindent 4 }}
  # SIGTERM: the operator stops within 10 s (in-flight activities finish, the watcher
  # releases its Lease).
  terminationGracePeriodSeconds: 30
  containers:
    - name: {{ .component }}
      image: {{ include "odoo-operator.image" $root }}
      imagePullPolicy: {{ $values.image.pullPolicy }}
      args: [{{ .command | quote }}, "--log-level", {{ $values.logLevel | quote }}]
      envFrom:
        - configMapRef:
            name: {{ include "odoo-operator.configName" $root }}
      env:
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        {{- if $values.temporal.apiKey.secretName }}
        - name: ODOO_OPERATOR_TEMPORAL_API_KEY
          valueFrom:
            secretKeyRef:
              name: {{ $values.temporal.apiKey.secretName }}
              key: {{ $values.temporal.apiKey.key }}
        {{- end }}
      ports:
        - name: probes
          containerPort: {{ $values.probes.port }}
        {{- with .ports }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: probes
        {{- toYaml $values.probes.liveness | nindent 8 }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: probes
        {{- toYaml $values.probes.readiness | nindent 8 }}
      resources:
        {{- toYaml .values.resources | nindent 8 }}
      securityContext:
        {{- toYaml $values.securityContext | nindent 8 }}
      volumeMounts:
        # The root filesystem is read-only: Python and Kopf write temporary files here.
        - name: tmp
          mountPath: /tmp
        {{- if $values.temporal.tls.secretName }}
        - name: temporal-tls
          mountPath: /etc/odoo-operator/temporal-tls
          readOnly: true
        {{- end }}
        {{- with .mounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: tmp
      emptyDir: {}
    {{- if $values.temporal.tls.secretName }}
    - name: temporal-tls
      secret:
        secretName: {{ $values.temporal.tls.secretName }}
    {{- end }}
    {{- with .volumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/*
The webhook's CA and serving certificate when the chart makes them (cert-manager off),
as a dict {ca, cert, key} of PEM strings. Made once per helm run (memoized in
.Values.__webhookTls, so the Secret, the caBundle and the watcher's checksum agree) and
kept across upgrades: the existing Secret is reused (lookup) unless it is incomplete or
was made for other DNS names (another release name or namespace).
*/}}
{{- define "odoo-operator.webhookTls" -}}
{{- if not (hasKey .Values "__webhookTls") -}}
{{- $hosts := include "odoo-operator.webhookHosts" . | fromJsonArray -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "odoo-operator.webhookSecretName" .) -}}
{{- $data := dict -}}
{{- if $existing -}}{{- $data = default (dict) $existing.data -}}{{- end -}}
{{- $madeFor := "" -}}
{{- if $existing -}}{{- $madeFor = index (default (dict) $existing.metadata.annotations) "odoo-operator.bemade.org/webhook-hosts" | default "" -}}{{- end -}}
{{- $tls := dict -}}
{{- if and (index $data "tls.crt") (index $data "tls.key") (index $data "ca.crt") (eq $madeFor (join "," $hosts)) -}}
{{- $tls = dict "ca" (index $data "ca.crt" | b64dec) "cert" (index $data "tls.crt" | b64dec) "key" (index $data "tls.key" | b64dec) -}}
{{- else -}}
{{- $ca := genCA (printf "%s-webhook-ca" (include "odoo-operator.fullname" .)) (int .Values.webhook.certificateDays) -}}
{{- $cert := genSignedCert (first $hosts) nil $hosts (int .Values.webhook.certificateDays) $ca -}}
{{- $tls = dict "ca" $ca.Cert "cert" $cert.Cert "key" $cert.Key -}}
{{- end -}}
{{- $_ := set .Values "__webhookTls" $tls -}}
{{- end -}}
{{- toJson (get .Values "__webhookTls") -}}
{{- end -}}

{{/* The watcher's pod annotation that rolls it when the chart's certificate changes. */}}
{{- define "odoo-operator.webhookTlsChecksum" -}}
{{- if and .Values.webhook.enabled (not .Values.webhook.certManager.enabled) -}}
checksum/webhook-tls: {{ (include "odoo-operator.webhookTls" . | fromJson).cert | sha256sum }}
{{- end -}}
{{- end -}}
