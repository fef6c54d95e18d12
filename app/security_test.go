package app

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"gocloud.dev/secrets/localsecrets"

	"github.com/switchboard-dev/switchboard/apperr"
	"github.com/switchboard-dev/switchboard/auth"
	"github.com/switchboard-dev/switchboard/carriers"
	"github.com/switchboard-dev/switchboard/carriers/carriertest"
	"github.com/switchboard-dev/switchboard/carriers/twilio"
	"github.com/switchboard-dev/switchboard/envelope"
)

func TestAuthentication(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	expired, _ := auth.Mint(mustSecret(t, s), "acct_a", nil, -time.Hour)
	foreign, _ := auth.Mint([]byte("another-secret-another-secret-32b"), "acct_a", nil, time.Hour)
	for name, tok := range map[string]string{"no token": "", "garbage": "not.a.jwt", "expired": expired, "other secret": foreign} {
		if res := s.post(tok, `{ providers { totalCount } }`, nil); res.code(t) != "UNAUTHENTICATED" {
			t.Errorf("%s: got %+v", name, res.Errors)
		} else if strings.Contains(res.Errors[0].Message, tok) && tok != "" {
			t.Errorf("%s: the error echoes the token", name)
		}
	}
	// Introspection alone is open so the playground can load the schema; a query that mixes it
	// with data is not.
	var schema struct{ QueryType struct{ Name string } }
	s.post("", `{ __schema { queryType { name } } }`, nil).into(t, "__schema", &schema)
	if res := s.post("", `{ __typename providers { totalCount } }`, nil); res.code(t) != "UNAUTHENTICATED" {
		t.Errorf("introspection plus data without a token: %+v", res.Errors)
	}

	reader := s.token("acct_a", auth.ScopeRead)
	var conn struct{ TotalCount int }
	s.post(reader, `{ providers { totalCount } }`, nil).into(t, "providers", &conn)
	res := s.post(reader, `mutation { updateCallLimits(input: {concurrentMax: 1}) { concurrentMax } }`, nil)
	if res.code(t) != "FORBIDDEN" || !strings.Contains(res.Errors[0].Message, auth.ScopeWrite) {
		t.Fatalf("read-only token mutated: %+v", res.Errors)
	}
	var l struct{ ConcurrentMax int }
	s.post(reader, `{ callLimits { concurrentMax } }`, nil).into(t, "callLimits", &l)
	if l.ConcurrentMax != 10 {
		t.Fatalf("a refused mutation changed limits: %+v", l)
	}
}

func mustSecret(t *testing.T, s *testServer) []byte {
	secret, err := auth.LoadOrCreateSecret(s.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// TestCredentialsAreSealedAtRest reads the stored rows straight from the database.
func TestCredentialsAreSealedAtRest(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	p := s.createProvider(s.token("acct_a"))

	rows, err := s.app.db.Query(`SELECT * FROM providers`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	seen := 0
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			for _, secret := range []string{twilioToken, twilioSID, twilioSID[2:]} {
				if strings.Contains(string(v), secret) {
					t.Errorf("column %s holds %q in plaintext", cols[i], secret)
				}
			}
		}
		seen++
	}
	if seen != 1 {
		t.Fatalf("read %d provider rows, want 1", seen)
	}

	// The sealed blob opens on its own row...
	ctxA := auth.NewContext(context.Background(), auth.Viewer{AccountID: "acct_a", Read: true, Write: true})
	row, err := s.app.Client().Provider.Get(ctxA, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := s.app.Provisioning().OpenCredentials(ctxA, row)
	if err != nil {
		t.Fatal(err)
	}
	if c := creds.(twilio.Credentials); c.AccountSID != twilioSID || c.AuthToken != twilioToken {
		t.Fatalf("opened credentials differ: %s", c.Hint())
	}
	// ...and not on another row of the same account, nor of another account.
	ctxB := auth.NewContext(context.Background(), auth.Viewer{AccountID: "acct_b", Read: true, Write: true})
	for _, target := range []struct {
		ctx  context.Context
		name string
	}{{ctxA, "same account"}, {ctxB, "other account"}} {
		other := s.createProviderAs(target.ctx)
		if _, err := s.app.db.Exec(`UPDATE providers SET sealed_credentials = (SELECT sealed_credentials FROM providers WHERE id = ?),
			wrapped_key = (SELECT wrapped_key FROM providers WHERE id = ?), key_id = (SELECT key_id FROM providers WHERE id = ?) WHERE id = ?`,
			p.ID, p.ID, p.ID, other); err != nil {
			t.Fatal(err)
		}
		moved, err := s.app.Client().Provider.Get(target.ctx, other)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.app.Provisioning().OpenCredentials(target.ctx, moved); !errors.Is(err, envelope.ErrCannotOpen) {
			t.Errorf("%s: a moved sealed blob opened (err %v)", target.name, err)
		}
	}
}

func (s *testServer) createProviderAs(ctx context.Context) string {
	s.t.Helper()
	raw, _ := json.Marshal(map[string]string{"account_sid": "AC00000000000000000000000000000000", "auth_token": "other"})
	p, err := s.app.Provisioning().CreateProvider(ctx, provisioningInput(raw))
	if err != nil {
		s.t.Fatal(err)
	}
	return p.ID
}

// TestKeeperDownIsUnavailableAndWritesNothing uses a key service that fails every call.
func TestKeeperDownIsUnavailableAndWritesNothing(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	k := localsecrets.NewKeeper([32]byte{1})
	k.Close()
	s.app.sealer = envelope.NewSealer(envelope.Keeper{ID: "kms:test", K: k})
	s.http.Config.Handler = s.app.Handler()

	tok := s.token("acct_a")
	res := s.post(tok, createProviderOp, map[string]any{"in": map[string]any{"carrier": "twilio", "label": "x", "credentials": twilioCredentials()}})
	if res.code(t) != string(apperr.Unavailable) {
		t.Fatalf("got %+v", res.Errors)
	}
	var conn struct{ TotalCount int }
	s.post(tok, `{ providers { totalCount } }`, nil).into(t, "providers", &conn)
	if conn.TotalCount != 0 {
		t.Fatalf("%d provider(s) written although sealing failed", conn.TotalCount)
	}
}

// TestLogsOfAFullSessionHoldNoSecret drives every operation, the failing ones included, and reads
// the server's captured logs.
func TestLogsOfAFullSessionHoldNoSecret(t *testing.T) {
	s := startServer(t, t.TempDir(), map[string]string{"SWITCHBOARD_LOG_LEVEL": "debug"})
	tok := s.token("acct_a")
	p := s.createProvider(tok)
	n := s.createNumber(tok, p.ID, "+14155550140", "agent-1")
	s.post(tok, updateNumberOp, map[string]any{"id": n.ID, "in": map[string]any{"agentID": nil}})
	s.post(tok, createProviderOp, map[string]any{"in": map[string]any{"carrier": "twilio", "label": "x",
		"credentials": map[string]any{"account_sid": twilioSID, "auth_token": twilioToken, "extra": twilioToken}}})
	s.post(tok, createProviderOp, map[string]any{"in": map[string]any{"carrier": "twilio", "label": "x",
		"credentials": map[string]any{"account_sid": twilioToken, "auth_token": twilioToken}}})
	s.post(tok, createProviderOp, map[string]any{"in": map[string]any{"carrier": "twilio", "label": strings.Repeat("x", 200), "credentials": twilioCredentials()}})
	s.post(tok, `mutation($id: ID!) { deleteProvider(id: $id) }`, map[string]any{"id": p.ID})
	s.post(tok, `{ providers { edges { node { id hint } } } phoneNumbers { totalCount } callLimits { concurrentMax } }`, nil)
	// The same secrets in a GET query string, which must not reach the request log either.
	req, _ := http.NewRequest(http.MethodGet, s.http.URL+"/graphql?query={__typename}&variables="+twilioToken, nil)
	s.send(req)
	s.post("Bearer-"+twilioToken, `{ providers { totalCount } }`, nil)

	logs := s.logs.String()
	if !strings.Contains(logs, `"path":"/graphql"`) {
		t.Fatalf("captured no request logs: %s", logs)
	}
	for _, secret := range []string{twilioToken, twilioSID} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
}

// acme is a throwaway carrier: a plugin in a few lines, registered without touching any other
// package. It is the README's "Adding a carrier" example.
type acme struct{}

var acmeFields = []carriers.FieldSpec{
	{Name: "account", Label: "Account", Description: "Your Acme account name.",
		Required: true, Pattern: "^[a-z][a-z0-9-]{2,31}$", Example: "my-company"},
	{Name: "api_key", Label: "API key", Description: "Your Acme API key.",
		Secret: true, Required: true, Pattern: "^ak_[a-z0-9]{8}$", Example: "ak_0123abcd"},
}

type acmeCredentials struct {
	Account string `json:"account"`
	APIKey  string `json:"api_key"`
}

func (c acmeCredentials) Hint() string     { return c.Account }
func (c acmeCredentials) String() string   { return "acme credentials for " + c.Account }
func (c acmeCredentials) GoString() string { return c.String() }

func (acme) Info() carriers.Info {
	return carriers.Info{ID: "acme", DisplayName: "Acme Telecom", CredentialFields: acmeFields}
}

func (acme) ParseCredentials(raw json.RawMessage) (carriers.Credentials, error) {
	f, err := carriers.DecodeFields(raw, "Acme", acmeFields)
	return acmeCredentials{Account: f["account"], APIKey: f["api_key"]}, err
}

func (acme) Originate(ctx context.Context, c carriers.Credentials, r carriers.OriginateRequest) (carriers.OriginateResult, error) {
	creds, err := carriers.CredentialsAs[acmeCredentials]("acme", c)
	if err == nil {
		err = r.Validate("acme")
	}
	if err != nil {
		return carriers.OriginateResult{}, err
	}
	api := carriers.APIClient{Carrier: "acme", Secrets: []string{creds.APIKey}}
	req, err := carriers.NewJSONRequest(http.MethodPost, "https://api.acme.example/v1/calls", map[string]string{
		"from": r.From, "to": r.To, "answer_url": r.AnswerURL, "status_url": r.StatusCallbackURL})
	if err != nil {
		return carriers.OriginateResult{}, api.NotSent(err)
	}
	req.Header.Set("Authorization", "Bearer "+creds.APIKey)
	return api.Originate(ctx, req, "call_id")
}

func TestAThrowawayCarrierPluginIsListedAndAccepted(t *testing.T) {
	carriertest.Conformance(t, acme{}, json.RawMessage(`{"account": "my-company", "api_key": "ak_0123abcd"}`))
	carriers.Register(acme{})
	s := startServer(t, t.TempDir(), nil)
	tok := s.token("acct_a")
	var list []struct {
		ID, DisplayName  string
		CredentialFields []struct {
			Name, Pattern, Example string
			Secret, Required       bool
		}
	}
	s.post(tok, `{ carriers { id displayName credentialFields { name pattern example secret required } } }`, nil).into(t, "carriers", &list)
	var ids []string
	for _, c := range list {
		ids = append(ids, c.ID)
		if c.ID == "acme" && (c.DisplayName != "Acme Telecom" || len(c.CredentialFields) != 2 || c.CredentialFields[1].Pattern != "^ak_[a-z0-9]{8}$" || !c.CredentialFields[1].Secret) {
			t.Errorf("acme listed as %+v", c)
		}
	}
	if strings.Join(ids, ",") != "acme,plivo,sandbox,twilio,vobiz" {
		t.Fatalf("carriers = %v", ids)
	}
	var p providerOut
	s.post(tok, createProviderOp, map[string]any{"in": map[string]any{"carrier": "acme", "label": "Acme", "credentials": map[string]any{"account": "acme-co", "api_key": "ak_9f8e7d6c"}}}).into(t, "createProvider", &p)
	if p.Carrier != "acme" || p.Hint != "acme-co" {
		t.Fatalf("acme provider = %+v", p)
	}
	res := s.post(tok, createProviderOp, map[string]any{"in": map[string]any{"carrier": "acme", "label": "Acme", "credentials": map[string]any{"account": "acme-co", "api_key": "nope"}}})
	if res.field(t) != "credentials.api_key" {
		t.Fatalf("bad acme key: %+v", res.Errors)
	}
}

// panicky is a plugin with a bug: the server answers INTERNAL and shows nothing of it.
type panicky struct{ acme }

func (panicky) Info() carriers.Info {
	i := acme{}.Info()
	i.ID, i.DisplayName = "panicky", "Panicky"
	return i
}

func (panicky) ParseCredentials(json.RawMessage) (carriers.Credentials, error) {
	panic("internal detail: /srv/switchboard/plugin.go:42")
}

func TestPanicIsInternalWithoutDetail(t *testing.T) {
	carriers.Register(panicky{})
	s := startServer(t, t.TempDir(), nil)
	res := s.post(s.token("acct_a"), createProviderOp, map[string]any{"in": map[string]any{"carrier": "panicky", "label": "x", "credentials": map[string]any{}}})
	if res.code(t) != "INTERNAL" || strings.Contains(res.Errors[0].Message, "plugin.go") || strings.Contains(res.Errors[0].Message, "internal detail") {
		t.Fatalf("got %+v", res.Errors)
	}
	if !strings.Contains(s.logs.String(), "plugin.go:42") {
		t.Fatalf("the panic was not logged for the operator")
	}
}

func TestRestartKeepsDataAndTokens(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, nil)
	tok := s.token("acct_a")
	p := s.createProvider(tok)
	n := s.createNumber(tok, p.ID, "+14155550150", "agent-7")
	s.post(tok, `mutation { updateCallLimits(input: {concurrentMax: 4}) { concurrentMax } }`, nil)
	s.stop()

	s = startServer(t, dir, nil) // same data folder; the token minted before still works
	var got numberOut
	s.post(tok, `query($id: ID!) { node(id: $id) { ... on PhoneNumber { id e164 providerID agentID } } }`, map[string]any{"id": n.ID}).into(t, "node", &got)
	if got.E164 != "+14155550150" || got.ProviderID != p.ID || got.AgentID == nil || *got.AgentID != "agent-7" {
		t.Fatalf("after restart: %+v", got)
	}
	var l struct{ ConcurrentMax int }
	s.post(tok, `{ callLimits { concurrentMax } }`, nil).into(t, "callLimits", &l)
	if l.ConcurrentMax != 4 {
		t.Fatalf("limits after restart: %+v", l)
	}
	ctx := auth.NewContext(context.Background(), auth.Viewer{AccountID: "acct_a", Read: true})
	row, _ := s.app.Client().Provider.Get(ctx, p.ID)
	if _, err := s.app.Provisioning().OpenCredentials(ctx, row); err != nil {
		t.Fatalf("credentials do not open after restart (local key lost?): %v", err)
	}
}

func TestRequestLimits(t *testing.T) {
	s := startServer(t, t.TempDir(), map[string]string{"SWITCHBOARD_MAX_BODY_BYTES": "2048", "SWITCHBOARD_MAX_COMPLEXITY": "10"})
	tok := s.token("acct_a")
	res := s.post(tok, `{ providers { totalCount } }`+strings.Repeat(" ", 4096), nil)
	if res.Status != http.StatusRequestEntityTooLarge || res.code(t) != "BAD_USER_INPUT" {
		t.Fatalf("oversized body: %d %+v", res.Status, res.Errors)
	}
	var conn struct{ TotalCount int }
	s.post(tok, `{ a: providers { totalCount } b: providers { totalCount } }`, nil).into(t, "a", &conn)                                            // complexity 4
	res = s.post(tok, `{ providers { edges { node { numbers { edges { node { provider { numbers { edges { node { e164 } } } } } } } } } } }`, nil) // complexity 11
	if res.code(t) != "BAD_USER_INPUT" || !strings.Contains(res.Errors[0].Message, "complexity") {
		t.Fatalf("complex query: %+v", res.Errors)
	}
}
