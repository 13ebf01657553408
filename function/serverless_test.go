package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// serverlessConfig is the part of serverless.yml the scf component reads.
type serverlessConfig struct {
	Component string `yaml:"component"`
	Name      string `yaml:"name"`
	Inputs    struct {
		Type       string `yaml:"type"`
		Runtime    string `yaml:"runtime"`
		Handler    string `yaml:"handler"`
		MemorySize int    `yaml:"memorySize"`
		Timeout    int    `yaml:"timeout"`
		Src        struct {
			Src string `yaml:"src"`
		} `yaml:"src"`
		Environment struct {
			Variables map[string]string `yaml:"variables"`
		} `yaml:"environment"`
		Events []map[string]struct {
			Parameters map[string]any `yaml:"parameters"`
		} `yaml:"events"`
	} `yaml:"inputs"`
}

// TestServerlessYAML checks serverless.yml against the scf component's
// rules, since no CLI validates it offline.
func TestServerlessYAML(t *testing.T) {
	raw, err := os.ReadFile("../serverless.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c serverlessConfig
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	in := c.Inputs
	if c.Component != "scf" || c.Name == "" {
		t.Errorf("component %q name %q", c.Component, c.Name)
	}
	if in.Runtime != "Go1" || in.Type != "event" {
		t.Errorf("runtime %q type %q", in.Runtime, in.Type)
	}
	makefile, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^BINARY\s*:?=\s*(\S+)`).FindSubmatch(makefile)
	if m == nil || in.Handler != string(m[1]) {
		t.Errorf("handler %q is not the Makefile's BINARY %q", in.Handler, m)
	}
	bm := regexp.MustCompile(`(?m)^BUILD\s*:?=\s*(\S+)`).FindSubmatch(makefile)
	if bm == nil || strings.TrimPrefix(in.Src.Src, "./") != string(bm[1]) {
		t.Errorf("src %q is not the Makefile's BUILD directory", in.Src.Src)
	}
	if mem := in.MemorySize; !(mem == 64 || mem >= 128 && mem <= 3072 && mem%128 == 0) {
		t.Errorf("memorySize %d: must be 64, or 128 to 3072 in steps of 128", mem)
	}
	if in.Timeout < 1 || in.Timeout > 900 {
		t.Errorf("timeout %d: must be 1 to 900 seconds", in.Timeout)
	}
	ref := regexp.MustCompile(`^\$\{env:([A-Z0-9_]+)\}$`)
	for name, v := range in.Environment.Variables {
		if m := ref.FindStringSubmatch(v); m == nil || m[1] != name {
			t.Errorf("%s must come from the deploy environment as ${env:%s}, not be written here", name, name)
		}
	}
	for _, required := range []string{"WXPAY_APPID", "WXPAY_MCHID", "WXPAY_KEY", "WXPAY_NOTIFY_URL"} {
		if _, ok := in.Environment.Variables[required]; !ok {
			t.Errorf("%s is required by the function and missing", required)
		}
	}
	http, timer := false, false
	for _, ev := range in.Events {
		for kind, trig := range ev {
			switch kind {
			case "http":
				http = trig.Parameters["authType"] == "NONE"
			case "timer":
				// SCF's cron has seven fields, seconds first; the sweep runs every minute.
				timer = trig.Parameters["cronExpression"] == "0 */1 * * * * *" && trig.Parameters["enable"] == true
			case "apigw", "cos", "cmq", "ckafka", "cls", "mps":
			default:
				t.Errorf("unknown trigger %q", kind)
			}
		}
	}
	if !http {
		t.Error("no Function URL (http) trigger")
	}
	if !timer {
		t.Error("no timer trigger running the sweep every minute")
	}
	// No literal secret anywhere, commented lines included.
	for _, line := range strings.Split(string(raw), "\n") {
		if k := regexp.MustCompile(`\b[0-9A-Za-z]{32}\b`).FindString(line); k != "" {
			t.Errorf("a 32-character value in serverless.yml looks like a key: %q", line)
		}
	}
}
