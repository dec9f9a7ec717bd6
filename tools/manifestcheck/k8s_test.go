// Tests of the k8s command: the valid fixture passes, and each kind of mistake is refused with the object and field named.
package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func runK8s(t *testing.T, input string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run([]string{"k8s", "-"}, strings.NewReader(input), &out, &errOut)
	return code, out.String() + errOut.String()
}

func TestValidStreamPasses(t *testing.T) {
	data, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	code, out := runK8s(t, string(data))
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{
		"ok apps/v1 Deployment rel-aggregator-gateway\n",
		"ok keda.sh/v1alpha1 ScaledObject rel-aggregator-worker\n",
		"ok monitoring.coreos.com/v1 PrometheusRule rel-aggregator\n",
		"9 objects (ConfigMap 1, Deployment 1, HorizontalPodAutoscaler 1, NetworkPolicy 1, PodDisruptionBudget 1, PrometheusRule 1, ScaledObject 1, Service 1, ServiceMonitor 1), 0 invalid\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// deployment is a valid Deployment; each bad case below breaks one thing in it.
const deployment = `# Source: aggregator/templates/worker/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: rel-aggregator-worker
spec:
  replicas: 2
  selector:
    matchLabels: {app: worker}
  template:
    metadata:
      labels: {app: worker}
    spec:
      containers:
        - name: worker
          image: aggregator/worker:0.1.0
          resources:
            requests: {cpu: 100m}
            limits: {cpu: 500m}
`

func TestDeploymentFixturePasses(t *testing.T) {
	if code, out := runK8s(t, deployment); code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

func TestMistakesAreRefused(t *testing.T) {
	cases := []struct {
		name, old, new, want string
	}{
		{"unknown field in a container", "          image: aggregator/worker:0.1.0\n",
			"          image: aggregator/worker:0.1.0\n          imagePullPolicyy: Always\n",
			`unknown field "spec.template.spec.containers[0].imagePullPolicyy"`},
		{"wrong type", "replicas: 2", "replicas: two", "spec.replicas of type int32"},
		{"duplicate field", "replicas: 2", "replicas: 2\n  replicas: 3", `key "replicas" already set`},
		{"unknown kind", "kind: Deployment", "kind: Deploymint", "unknown apiVersion/kind apps/v1 Deploymint"},
		{"unknown apiVersion", "apiVersion: apps/v1", "apiVersion: apps/v2", "unknown apiVersion/kind apps/v2 Deployment"},
		{"invalid name", "name: rel-aggregator-worker", "name: Rel_Worker", `metadata.name: Invalid value: "Rel_Worker"`},
		{"missing name", "  name: rel-aggregator-worker\n", "  labels: {a: b}\n", "metadata.name: Required value"},
		{"selector not matching", "labels: {app: worker}", "labels: {app: gateway}", "`selector` does not match template `labels`"},
		{"request above limit", "requests: {cpu: 100m}", "requests: {cpu: 900m}", "must be less than or equal to cpu limit"},
		{"bad env name", "          resources:\n", "          env: [{name: 1BAD, value: x}]\n          resources:\n", "spec.template.spec.containers[0].env[0].name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			input := strings.Replace(deployment, c.old, c.new, 1)
			if input == deployment {
				t.Fatalf("the case does not change the fixture")
			}
			code, out := runK8s(t, input)
			if code != 1 {
				t.Fatalf("exit %d, want 1:\n%s", code, out)
			}
			if !strings.Contains(out, c.want) {
				t.Errorf("output lacks %q:\n%s", c.want, out)
			}
			if !strings.Contains(out, "aggregator/templates/worker/deployment.yaml") {
				t.Errorf("output does not name the template:\n%s", out)
			}
		})
	}
}

func TestCustomResourceMistakesAreRefused(t *testing.T) {
	const scaledObject = `apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: so}
spec:
  scaleTargetRef: {name: rel-aggregator-worker}
  maxReplicaCount: 6
  triggers: [{type: kafka, metadata: {topic: agg.requests}}]
`
	const serviceMonitor = `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: sm}
spec:
  selector: {matchLabels: {app: gateway}}
  endpoints: [{port: http, path: /actuator/prometheus}]
`
	const triggerAuthentication = `apiVersion: keda.sh/v1alpha1
kind: TriggerAuthentication
metadata: {name: ta}
spec:
  secretTargetRef: [{parameter: sasl, name: kafka-auth, key: mechanism}]
`
	for _, good := range []string{scaledObject, serviceMonitor, triggerAuthentication} {
		if code, out := runK8s(t, good); code != 0 {
			t.Fatalf("valid fixture refused (exit %d):\n%s", code, out)
		}
	}
	cases := []struct {
		name, input, old, new, want string
	}{
		{"ScaledObject unknown field", scaledObject, "maxReplicaCount: 6", "maxReplicaCount: 6\n  pollingIntervall: 5", `unknown field "spec.pollingIntervall"`},
		{"ScaledObject wrong type", scaledObject, "maxReplicaCount: 6", "maxReplicaCount: six", "spec.maxReplicaCount in body must be of type integer"},
		{"ScaledObject missing required", scaledObject, "  triggers: [{type: kafka, metadata: {topic: agg.requests}}]\n", "", "spec.triggers: Required value"},
		{"ScaledObject unknown metadata field", scaledObject, "metadata: {name: so}", "metadata: {name: so, labelz: {}}", `unknown field "metadata.labelz"`},
		{"TriggerAuthentication unknown field", triggerAuthentication, "key: mechanism", "key: mechanism, optional: true", `unknown field "spec.secretTargetRef[0].optional"`},
		{"ServiceMonitor unknown field", serviceMonitor, "path: /actuator/prometheus", "pathh: /actuator/prometheus", `unknown field "spec.endpoints[0].pathh"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			input := strings.Replace(c.input, c.old, c.new, 1)
			if input == c.input {
				t.Fatalf("the case does not change the fixture")
			}
			code, out := runK8s(t, input)
			if code != 1 || !strings.Contains(out, c.want) {
				t.Fatalf("exit %d, want 1 and %q:\n%s", code, c.want, out)
			}
		})
	}
}

func TestEmptyInputIsAnError(t *testing.T) {
	if code, out := runK8s(t, "---\n# Source: x.yaml\n---\n"); code != 1 || !strings.Contains(out, "no objects") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"k8s", "a", "b"}, {"compose"}, {"nope"}} {
		var out, errOut bytes.Buffer
		if code := run(args, strings.NewReader(""), &out, &errOut); code != 2 || strings.Count(errOut.String(), "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q, want 2 and one line", args, code, errOut.String())
		}
	}
	var out bytes.Buffer
	if code := run([]string{"--version"}, nil, &out, &out); code != 0 || out.String() != "manifestcheck "+version+"\n" {
		t.Errorf("--version: exit %d, %q", code, out.String())
	}
}
