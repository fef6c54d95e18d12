package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/app"
	"github.com/switchboard-dev/switchboard/auth"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// readmeSession returns the shell block of the README's first session.
func readmeSession(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- first-session -->\n```sh\n(.*?)```\n<!-- /first-session -->").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no first-session block")
	}
	return string(m[1])
}

// TestReadmeFirstSession runs the README's first session, as written, against a fresh server.
func TestReadmeFirstSession(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed; .ci/run must install it", tool)
			}
			t.Skipf("the README session needs %s (apt-get install %s)", tool, tool)
		}
	}
	dir := t.TempDir()
	cfg, err := app.ConfigFromEnv(env(map[string]string{"SWITCHBOARD_DATA_DIR": dir}))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	defer srv.Close()
	cfg.PublicURL = "http://" + srv.Listener.Addr().String() // where the sandbox calls back
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv.Config.Handler = a.Handler()
	srv.Start()
	tok, ok := a.DevToken(time.Hour)
	if !ok {
		t.Fatal("no development token in the embedded setup")
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", readmeSession(t))
	cmd.Env = append(os.Environ(), "SB="+srv.URL, "TOKEN="+tok)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("the README session failed: %v\n%s", err, out.String())
	}
	got := out.String()
	if strings.Contains(got, `"errors"`) {
		t.Fatalf("the README session got errors:\n%s", got)
	}
	for _, want := range []string{
		`{"id":"twilio","fields":["account_sid","auth_token","api_key_sid","api_key_secret"]}`,
		"provider: prov_", "number: pn_",
		`"totalCount": 1`, `"hint": "AC…cdef"`,
		`"agentID": null`, `"inboundEnabled": false`,
		`"concurrentMax": 5`, `"callsPerMinute": null`, `"dailyCallsMax": 0`,
		`{"createPhoneNumber":{"e164":"+14155550100"}}`,
		`{"code":"CAP_EXCEEDED","dimension":"dailyCalls","limit":0,"retryAfterSeconds":null}`,
		"call: call_", `{"status":"COMPLETED","durationSeconds":1,`,
		`{"concurrent":0,"callsLastMinute":1,"callsToday":1,"minutesToday":1,"limits":{"concurrentMax":5,"dailyCallsMax":100}}`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the README session's output lacks %s:\n%s", want, got)
		}
	}
}

func TestReadmeDocumentsEveryVariable(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range app.Variables() {
		if !bytes.Contains(readme, []byte("`"+v.Name+"`")) {
			t.Errorf("README.md does not document %s", v.Name)
		}
	}
}

func TestTokenCommandMintsATokenTheServerAccepts(t *testing.T) {
	dir := t.TempDir()
	vars := env(map[string]string{"SWITCHBOARD_DATA_DIR": dir})
	var out bytes.Buffer
	if err := run([]string{"token", "--account", "acct_42", "--scope", "telephony:read"}, vars, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	// The server, started afterwards on the same data folder, uses the same secret.
	cfg, _ := app.ConfigFromEnv(vars)
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	secret, err := auth.LoadOrCreateSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	authn, err := auth.New(context.Background(), auth.Config{HS256Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	v, err := authn.AuthenticateToken(strings.TrimSpace(out.String()))
	if err != nil || v.AccountID != "acct_42" || !v.Read || v.Write {
		t.Fatalf("token = %+v, %v", v, err)
	}
	if err := run([]string{"token"}, vars, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "--account") {
		t.Fatalf("token without --account: %v", err)
	}
	out.Reset()
	if err := run([]string{"token", "--account", "a", "--scope", "telephony:read,telephony:write"}, vars, &out, io.Discard); err != nil {
		t.Fatalf("comma-separated scopes: %v", err)
	}
	if v, err := authn.AuthenticateToken(strings.TrimSpace(out.String())); err != nil || !v.Read || !v.Write {
		t.Fatalf("token with both scopes = %+v, %v", v, err)
	}
	if err := run([]string{"token", "--account", "a", "--scope", "telephony:admin"}, vars, io.Discard, io.Discard); err == nil {
		t.Fatal("token with an unknown scope")
	}
	jwks := env(map[string]string{"SWITCHBOARD_DATA_DIR": dir, "SWITCHBOARD_JWKS_URL": "http://127.0.0.1:1/jwks"})
	if err := run([]string{"token", "--account", "a"}, jwks, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "identity provider") {
		t.Fatalf("token in a JWKS setup: %v", err)
	}
}

func TestBadConfigurationNamesTheVariable(t *testing.T) {
	for name, vars := range map[string]map[string]string{
		"SWITCHBOARD_DATABASE_URL":           {"SWITCHBOARD_DATABASE_URL": "mysql://x"},
		"SWITCHBOARD_MAX_BODY_BYTES":         {"SWITCHBOARD_MAX_BODY_BYTES": "lots"},
		"SWITCHBOARD_DEFAULT_CONCURRENT_MAX": {"SWITCHBOARD_DEFAULT_CONCURRENT_MAX": "-3"},
		"SWITCHBOARD_LOG_FORMAT":             {"SWITCHBOARD_LOG_FORMAT": "xml"},
		"SWITCHBOARD_JWT_SECRET (too short)": {"SWITCHBOARD_JWT_SECRET": "short"},
		"SWITCHBOARD_CORS_ORIGINS":           {"SWITCHBOARD_CORS_ORIGINS": "https://app.example.com/path"},
		"SWITCHBOARD_DEV_ACCOUNT":            {"SWITCHBOARD_DEV_ACCOUNT": "has space"},
		"SWITCHBOARD_JWT_SECRET":             {"SWITCHBOARD_DATABASE_URL": "postgres://db/x", "SWITCHBOARD_REDIS_URL": "redis://r", "SWITCHBOARD_SECRETS_URL": "base64key://x"},
		"SWITCHBOARD_SECRETS_URL":            {"SWITCHBOARD_DATABASE_URL": "postgres://db/x", "SWITCHBOARD_REDIS_URL": "redis://r", "SWITCHBOARD_JWT_SECRET": strings.Repeat("s", 32)},
		"SWITCHBOARD_REDIS_URL":              {"SWITCHBOARD_DATABASE_URL": "postgres://db/x", "SWITCHBOARD_JWT_SECRET": strings.Repeat("s", 32), "SWITCHBOARD_SECRETS_URL": "base64key://x"},
	} {
		name, _, _ = strings.Cut(name, " ")
		if vars["SWITCHBOARD_DATA_DIR"] == "" && vars["SWITCHBOARD_DATABASE_URL"] == "" {
			vars["SWITCHBOARD_DATA_DIR"] = t.TempDir()
		}
		vars["SWITCHBOARD_ADDR"] = "127.0.0.1:0"
		err := run(nil, env(vars), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%v: got %v, want an error naming %s", vars, err, name)
		}
	}
}

func TestHelpListsVariables(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"help"}, env(nil), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "SWITCHBOARD_DATABASE_URL") {
		t.Fatalf("help: %s", out.String())
	}
}
