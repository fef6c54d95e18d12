package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/auth"
	_ "github.com/switchboard-dev/switchboard/carriers/builtin"
	"github.com/switchboard-dev/switchboard/provisioning"
)

// testServer is the real server wiring (embedded SQLite, in-process Redis, local key) behind an
// httptest server on loopback, with its logs captured.
type testServer struct {
	t       *testing.T
	app     *App
	http    *httptest.Server
	dataDir string
	logs    *lockedBuffer
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testConfig is the default configuration with its data folder in dir.
func testConfig(t *testing.T, dir string, env map[string]string) Config {
	t.Helper()
	cfg, err := ConfigFromEnv(func(k string) string {
		if k == "SWITCHBOARD_DATA_DIR" {
			return dir
		}
		return env[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func startServer(t *testing.T, dir string, env map[string]string) *testServer {
	t.Helper()
	cfg := testConfig(t, dir, env)
	logs := &lockedBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := httptest.NewUnstartedServer(nil)
	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://" + srv.Listener.Addr().String() // where the sandbox calls back
	}
	a, err := New(context.Background(), cfg, log)
	if err != nil {
		srv.Close()
		t.Fatalf("start: %v", err)
	}
	srv.Config.Handler = a.Handler()
	srv.Start()
	s := &testServer{t: t, app: a, http: srv, dataDir: dir, logs: logs}
	t.Cleanup(s.stop)
	return s
}

func (s *testServer) stop() {
	if s.http != nil {
		s.http.Close()
		s.app.Close()
		s.http = nil
	}
}

// token mints a token for account with the server's own secret.
func (s *testServer) token(account string, scopes ...string) string {
	s.t.Helper()
	secret, err := auth.LoadOrCreateSecret(s.dataDir)
	if err != nil {
		s.t.Fatal(err)
	}
	tok, err := auth.Mint(secret, account, scopes, time.Hour)
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

type gqlResponse struct {
	Status int
	Data   map[string]json.RawMessage `json:"data"`
	Errors []gqlError                 `json:"errors"`
}

// code is the extensions.code of the only error, failing the test unless there is exactly one.
func (r gqlResponse) code(t *testing.T) string {
	t.Helper()
	if len(r.Errors) != 1 {
		t.Fatalf("want exactly one error, got %+v", r.Errors)
	}
	code, _ := r.Errors[0].Extensions["code"].(string)
	return code
}

func (r gqlResponse) field(t *testing.T) string {
	t.Helper()
	r.code(t)
	f, _ := r.Errors[0].Extensions["field"].(string)
	return f
}

// into decodes data[key] into v, failing on any error in the response.
func (r gqlResponse) into(t *testing.T, key string, v any) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("unexpected errors: %+v", r.Errors)
	}
	if err := json.Unmarshal(r.Data[key], v); err != nil {
		t.Fatalf("decode %s: %v (%s)", key, err, r.Data[key])
	}
}

// post sends a GraphQL request with an optional bearer token.
func (s *testServer) post(token, query string, vars map[string]any) gqlResponse {
	s.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, s.http.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return s.send(req)
}

func (s *testServer) send(req *http.Request) gqlResponse {
	s.t.Helper()
	res, err := s.http.Client().Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := gqlResponse{Status: res.StatusCode}
	if err := json.Unmarshal(raw, &out); err != nil {
		s.t.Fatalf("response is not GraphQL JSON (%d): %s", res.StatusCode, raw)
	}
	return out
}

// A little vocabulary for the tests: the operations a frontend sends.
const (
	createProviderOp = `mutation($in: CreateProviderInput!) { createProvider(input: $in) { id carrier label hint } }`
	createNumberOp   = `mutation($in: CreatePhoneNumberInput!) { createPhoneNumber(input: $in) { id e164 providerID agentID inboundEnabled outboundEnabled } }`
	updateNumberOp   = `mutation($id: ID!, $in: UpdatePhoneNumberInput!) { updatePhoneNumber(id: $id, input: $in) { id agentID inboundEnabled outboundEnabled } }`
)

// Credentials that every test reuses; the token is what must never leak.
const (
	twilioSID   = "AC5f1c0a3e9b2d4c6e8f0a1b2c3d4e5f6a"
	twilioToken = "Zq8RtY3uP0oLk7JhG5fD2sA9xWvB4nMc"
)

func twilioCredentials() map[string]any {
	return map[string]any{"account_sid": twilioSID, "auth_token": twilioToken}
}

type providerOut struct{ ID, Carrier, Label, Hint string }

type numberOut struct {
	ID, E164, ProviderID            string
	AgentID                         *string
	InboundEnabled, OutboundEnabled bool
}

func (s *testServer) createProvider(token string) providerOut {
	s.t.Helper()
	var p providerOut
	s.post(token, createProviderOp, map[string]any{"in": map[string]any{
		"carrier": "twilio", "label": "Main", "credentials": twilioCredentials(),
	}}).into(s.t, "createProvider", &p)
	return p
}

func (s *testServer) createNumber(token, providerID, e164 string, agentID any) numberOut {
	s.t.Helper()
	var n numberOut
	s.post(token, createNumberOp, map[string]any{"in": map[string]any{
		"e164": e164, "providerID": providerID, "agentID": agentID,
	}}).into(s.t, "createPhoneNumber", &n)
	return n
}

func contains(haystack, needle string) bool { return strings.Contains(haystack, needle) }

func provisioningInput(raw json.RawMessage) provisioning.NewProvider {
	return provisioning.NewProvider{Carrier: "twilio", Label: "Other", Credentials: raw}
}
