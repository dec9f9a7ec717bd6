// manifestcheck validates deployment files offline: rendered Kubernetes manifests against the API's Go types, and a compose file against the compose schema.
package main

import (
	"fmt"
	"io"
	"os"
)

const version = "0.1.0"

const usage = `Usage: manifestcheck k8s [FILE|-]
       manifestcheck compose FILE
       manifestcheck --help | --version

k8s      reads a multi-document YAML stream (e.g. helm template output) and decodes
         every object strictly into its Kubernetes API type (unknown or duplicate
         fields, wrong types, unknown apiVersion/kind fail), then runs the API's
         server-free checks (names, labels, selectors). CRDs: monitoring.coreos.com/v1
         ServiceMonitor and PrometheusRule (prometheus-operator's Go types),
         keda.sh/v1alpha1 ScaledObject and TriggerAuthentication (KEDA's published
         CRD schemas, crds/: pruning and OpenAPI validation as the API server does). Prints one line per object
         and a count per kind; exit 1 on any error.
compose  loads a compose file with compose-go (schema validation, ${VAR:-default}
         interpolation from the environment) and prints, as JSON, per service:
         image, build, environment, ports, depends_on, healthcheck, networks and
         the security settings. Exit 1 when the file does not load.

Exit status: 0 valid, 1 invalid input, 2 bad usage.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is main without the process: the tests call it with their own streams.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return badUsage(stderr, "missing command (k8s or compose)")
	}
	switch args[0] {
	case "--help", "-h", "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "--version":
		fmt.Fprintf(stdout, "manifestcheck %s\n", version)
		return 0
	case "k8s":
		if len(args) > 2 {
			return badUsage(stderr, "k8s takes at most one FILE")
		}
		name := "-"
		if len(args) == 2 {
			name = args[1]
		}
		in, closeIn, err := openInput(name, stdin)
		if err != nil {
			fmt.Fprintf(stderr, "manifestcheck: %v\n", err)
			return 1
		}
		defer closeIn()
		return checkManifests(in, stdout, stderr)
	case "compose":
		if len(args) != 2 {
			return badUsage(stderr, "compose takes exactly one FILE")
		}
		return checkCompose(args[1], stdout, stderr)
	default:
		return badUsage(stderr, fmt.Sprintf("unknown command %q", args[0]))
	}
}

func badUsage(stderr io.Writer, msg string) int {
	fmt.Fprintf(stderr, "manifestcheck: %s (see manifestcheck --help)\n", msg)
	return 2
}

func openInput(name string, stdin io.Reader) (io.Reader, func(), error) {
	if name == "-" {
		return stdin, func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}
