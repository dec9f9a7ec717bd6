// Tests of the compose command: a valid file gives its summary, a schema error or a bad interpolation fails.
package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCompose(t *testing.T, file string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run([]string{"compose", file}, nil, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestComposeSummary(t *testing.T) {
	t.Setenv("REDIS_TAG", "")
	code, out, errOut := runCompose(t, "testdata/compose-valid.yaml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got composeSummary
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	redis, app := got.Services["redis"], got.Services["app"]
	if redis.Image != "redis:7.2.5" {
		t.Errorf("interpolation default not applied: image %q", redis.Image)
	}
	if !redis.Healthcheck || app.Healthcheck {
		t.Errorf("healthcheck: redis %v app %v", redis.Healthcheck, app.Healthcheck)
	}
	if app.DependsOn["redis"] != "service_healthy" {
		t.Errorf("depends_on: %v", app.DependsOn)
	}
	if v := app.Environment["REDIS_URL"]; v == nil || *v != "redis://redis:6379" {
		t.Errorf("environment: %v", app.Environment)
	}
	if app.Build == nil || app.Build.Dockerfile != "gateway/Dockerfile" || !filepath.IsAbs(app.Build.Context) {
		t.Errorf("build: %+v", app.Build)
	}
	if len(app.Ports) != 1 || app.Ports[0].Published != "8080" || app.Ports[0].Target != 8080 {
		t.Errorf("ports: %+v", app.Ports)
	}
	if aliases := app.Networks["default"]; len(aliases) != 1 || aliases[0] != "gateway" {
		t.Errorf("networks: %v", app.Networks)
	}

	t.Setenv("REDIS_TAG", "7.4.0")
	_, out, _ = runCompose(t, "testdata/compose-valid.yaml")
	if !strings.Contains(out, `"image": "redis:7.4.0"`) {
		t.Errorf("the environment does not override the default:\n%s", out)
	}
}

func TestComposeMistakesAreRefused(t *testing.T) {
	valid, err := os.ReadFile("testdata/compose-valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, old, new, want string }{
		{"misspelt key", "depends_on:", "depend_on:", "depend_on"},
		{"wrong type", "read_only: true", "read_only: [yes]", "read_only"},
		{"unknown dependency", "      redis:\n        condition", "      redsi:\n        condition", "redsi"},
		{"bad condition", "condition: service_healthy", "condition: when_ready", "condition"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			broken := strings.Replace(string(valid), c.old, c.new, 1)
			if broken == string(valid) {
				t.Fatal("the case does not change the fixture")
			}
			// The copy sits next to the original so that the build context still resolves.
			file := filepath.Join("testdata", "broken-"+strings.ReplaceAll(c.name, " ", "-")+".yaml")
			if err := os.WriteFile(file, []byte(broken), 0o644); err != nil {
				t.Fatal(err)
			}
			defer os.Remove(file)
			code, out, errOut := runCompose(t, file)
			if code != 1 || !strings.Contains(errOut, c.want) || out != "" {
				t.Fatalf("exit %d, want 1 and %q in stderr: %s%s", code, c.want, out, errOut)
			}
		})
	}
}
