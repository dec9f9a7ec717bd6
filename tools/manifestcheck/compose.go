// The compose command: loads a compose file as docker compose would (schema, interpolation, consistency) and prints a JSON summary per service for tests.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

type composeSummary struct {
	Name     string                    `json:"name"`
	Services map[string]serviceSummary `json:"services"`
}

type serviceSummary struct {
	Image       string              `json:"image"`
	Build       *buildSummary       `json:"build"`
	Environment map[string]*string  `json:"environment"`
	Ports       []portSummary       `json:"ports"`
	DependsOn   map[string]string   `json:"depends_on"` // service -> condition
	Healthcheck bool                `json:"healthcheck"`
	Networks    map[string][]string `json:"networks"` // network -> aliases
	ReadOnly    bool                `json:"read_only"`
	User        string              `json:"user"`
	CapDrop     []string            `json:"cap_drop"`
	SecurityOpt []string            `json:"security_opt"`
	Tmpfs       []string            `json:"tmpfs"`
}

type buildSummary struct {
	Context    string `json:"context"` // absolute, as compose-go resolves it
	Dockerfile string `json:"dockerfile"`
}

type portSummary struct {
	Published string `json:"published"`
	Target    uint32 `json:"target"`
	Protocol  string `json:"protocol"`
}

func loadCompose(file string) (*types.Project, error) {
	opts, err := cli.NewProjectOptions([]string{file}, cli.WithOsEnv, cli.WithInterpolation(true))
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(context.Background())
}

func summarize(p *types.Project) composeSummary {
	out := composeSummary{Name: p.Name, Services: map[string]serviceSummary{}}
	for name, s := range p.Services {
		sum := serviceSummary{
			Image: s.Image, Environment: map[string]*string(s.Environment), DependsOn: map[string]string{},
			Networks: map[string][]string{}, ReadOnly: s.ReadOnly, User: s.User,
			CapDrop: s.CapDrop, SecurityOpt: s.SecurityOpt, Tmpfs: s.Tmpfs,
			Healthcheck: s.HealthCheck != nil && !s.HealthCheck.Disable && len(s.HealthCheck.Test) > 0,
		}
		if s.Build != nil {
			sum.Build = &buildSummary{Context: s.Build.Context, Dockerfile: s.Build.Dockerfile}
		}
		for _, port := range s.Ports {
			sum.Ports = append(sum.Ports, portSummary{Published: port.Published, Target: port.Target, Protocol: port.Protocol})
		}
		for dep, cfg := range s.DependsOn {
			sum.DependsOn[dep] = cfg.Condition
		}
		for net, cfg := range s.Networks {
			aliases := []string{}
			if cfg != nil {
				aliases = append(aliases, cfg.Aliases...)
				sort.Strings(aliases)
			}
			sum.Networks[net] = aliases
		}
		out.Services[name] = sum
	}
	return out
}

func checkCompose(file string, stdout, stderr io.Writer) int {
	project, err := loadCompose(file)
	if err != nil {
		fmt.Fprintf(stderr, "manifestcheck: %s: %v\n", file, err)
		return 1
	}
	return writeJSON(stdout, stderr, summarize(project))
}

func writeJSON(stdout, stderr io.Writer, v interface{}) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(stderr, "manifestcheck: %v\n", err)
		return 1
	}
	return 0
}
