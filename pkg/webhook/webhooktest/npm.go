package webhooktest

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

//go:embed standardwebhooks.cjs
var npmScript []byte

// NPM runs npm standardwebhooks (the Standard Webhooks reference
// implementation, which merchants' Node receivers use) from the
// node_modules directory in WXPAY_TEST_NODE_MODULES, as
// scripts/standardwebhooks-install.sh prints it.
type NPM struct {
	node, modules, script string
}

// NeedNPM finds node and the package. Without them the test is skipped,
// except under CI, where they must be there.
func NeedNPM(t testing.TB) *NPM {
	t.Helper()
	modules := os.Getenv("WXPAY_TEST_NODE_MODULES")
	node, err := exec.LookPath("node")
	if modules == "" || err != nil {
		const why = "needs node and WXPAY_TEST_NODE_MODULES=$(scripts/standardwebhooks-install.sh)"
		if os.Getenv("CI") == "true" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	if _, err := os.Stat(filepath.Join(modules, "standardwebhooks", "package.json")); err != nil {
		t.Fatalf("WXPAY_TEST_NODE_MODULES holds no standardwebhooks: %v", err)
	}
	script := filepath.Join(t.TempDir(), "standardwebhooks.cjs")
	if err := os.WriteFile(script, npmScript, 0o600); err != nil {
		t.Fatal(err)
	}
	return &NPM{node: node, modules: modules, script: script}
}

// Run sends req to standardwebhooks.cjs (see its comment for the
// requests) and returns what it printed and its exit code: 0 done, 1
// refused by the library; anything else fails the test.
func (n *NPM) Run(t testing.TB, req map[string]any) (string, int) {
	t.Helper()
	in, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, n.node, n.script)
	cmd.Env = append(os.Environ(), "NODE_PATH="+n.modules)
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), 0
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		return stdout.String(), 1
	}
	t.Fatalf("node: %v: %s", err, stderr.String())
	return "", 0
}

// Verifies reports whether npm standardwebhooks accepts a delivery this
// receiver recorded, under secret (whsec_…), as a Node receiver would.
func (n *NPM) Verifies(t testing.TB, secret string, d Delivery) bool {
	t.Helper()
	headers := map[string]string{}
	for name, v := range d.Header {
		headers[strings.ToLower(name)] = strings.Join(v, ", ")
	}
	_, code := n.Run(t, map[string]any{"op": "verify", "secret": secret, "headers": headers, "body": d.Body})
	return code == 0
}
