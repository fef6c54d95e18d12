package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Khan/genqlient/graphql"
	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/switchboard-dev/switchboard/app"
	"github.com/switchboard-dev/switchboard/auth"
	"github.com/switchboard-dev/switchboard/internal/testenv"

	_ "github.com/switchboard-dev/switchboard/carriers/builtin" // the carrier plugins, as server.go has them
)

func TestMain(m *testing.M) { testenv.Main(m) }

// jwtSecret signs the suite's tokens, as SWITCHBOARD_JWT_SECRET does in production.
const jwtSecret = "integration-suite-jwt-secret-0123456789"

// secretsURL is a fixed key-encryption key, so every server instance of a test opens what the
// others sealed.
var secretsURL = "base64key://" + base64.URLEncoding.EncodeToString([]byte("integration-suite-master-key-32b"))

// stack is one Postgres database and one Redis database of the shared containers, for the
// servers of one test.
type stack struct {
	DatabaseURL, RedisURL string
}

func newStack(t testing.TB) stack {
	t.Helper()
	return stack{DatabaseURL: testenv.Postgres(t), RedisURL: testenv.RedisURL(t)}
}

// env is the production configuration of a server on this stack.
func (st stack) env(t testing.TB) map[string]string {
	return map[string]string{
		"SWITCHBOARD_DATA_DIR":     t.TempDir(),
		"SWITCHBOARD_DATABASE_URL": st.DatabaseURL,
		"SWITCHBOARD_REDIS_URL":    st.RedisURL,
		"SWITCHBOARD_SECRETS_URL":  secretsURL,
		"SWITCHBOARD_JWT_SECRET":   jwtSecret,
	}
}

// db opens a pgx pool on the stack's database, for checks the API cannot make.
func (st stack) db(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), st.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// server is one running Switchboard instance, booted the way server.go boots it: configuration
// from the environment, app.New, and App.Serve on a loopback listener.
type server struct {
	URL  string
	stop func()
}

// start boots a server on the stack; it stops when the test ends, or earlier with stop. extra
// adds to (or overrides) the environment.
func (st stack) start(t testing.TB, extra ...map[string]string) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	env := st.env(t)
	env["SWITCHBOARD_PUBLIC_URL"] = "http://" + ln.Addr().String() // where fake carriers call back
	for _, e := range extra {
		for k, v := range e {
			env[k] = v
		}
	}
	cfg, err := app.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		cancel()
		ln.Close()
		t.Fatalf("app.New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	s := &server{URL: "http://" + ln.Addr().String()}
	stopped := false
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if err := a.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	t.Cleanup(s.stop)
	return s
}

// client returns a GraphQL client acting for account with a token of the given scopes (none:
// read and write).
func (s *server) client(t testing.TB, account string, scopes ...string) graphql.Client {
	t.Helper()
	return s.clientWithToken(token(t, account, scopes...))
}

// token mints a token for account, signed as SWITCHBOARD_JWT_SECRET says.
func token(t testing.TB, account string, scopes ...string) string {
	t.Helper()
	tok, err := auth.Mint([]byte(jwtSecret), account, scopes, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (s *server) clientWithToken(token string) graphql.Client {
	return graphql.NewClient(s.URL+"/graphql", &http.Client{
		Timeout:   30 * time.Second,
		Transport: bearer{token: token, next: http.DefaultTransport},
	})
}

// bearer adds the Authorization header to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b.token != "" {
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return b.next.RoundTrip(r)
}

// gqlErrors returns the GraphQL errors in err, whether the server answered 200 or not.
func gqlErrors(err error) gqlerror.List {
	var list gqlerror.List
	if errors.As(err, &list) {
		return list
	}
	var httpErr *graphql.HTTPError
	if errors.As(err, &httpErr) {
		return httpErr.Response.Errors
	}
	return nil
}

// wantCode fails t unless err is a GraphQL error with extensions.code == code (and, when field is
// not empty, extensions.field == field). It returns the first error's message.
func wantCode(t *testing.T, err error, code, field string) string {
	t.Helper()
	list := gqlErrors(err)
	if len(list) == 0 {
		t.Fatalf("want a GraphQL error %s, got %v", code, err)
	}
	e := list[0]
	if got := e.Extensions["code"]; got != code {
		t.Fatalf("want code %s, got %v: %s", code, got, e.Message)
	}
	if field != "" && e.Extensions["field"] != field {
		t.Fatalf("want field %q, got %v: %s", field, e.Extensions["field"], e.Message)
	}
	return e.Message
}

// must fails t on err.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%+v", describe(err))
	}
}

// describe renders err with its GraphQL extensions, for failure messages.
func describe(err error) string {
	list := gqlErrors(err)
	if len(list) == 0 {
		return err.Error()
	}
	parts := make([]string, len(list))
	for i, e := range list {
		parts[i] = fmt.Sprintf("%s %v", e.Message, e.Extensions)
	}
	return strings.Join(parts, "; ")
}

// clientT is the generated operations' client type.
type clientT = graphql.Client

// subscribe opens a graphql-transport-ws subscription as account and returns the data of each
// "next" message; the channel closes when the socket does. It fails t on a protocol error.
func (s *server) subscribe(t *testing.T, ctx context.Context, account, query string) <-chan json.RawMessage {
	t.Helper()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/graphql",
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	var msg struct {
		Type    string
		Payload json.RawMessage
	}
	must(t, wsjson.Write(ctx, ws, map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token(t, account)}}))
	if err := wsjson.Read(ctx, ws, &msg); err != nil || msg.Type != "connection_ack" {
		t.Fatalf("connection_init: %+v %v", msg, err)
	}
	must(t, wsjson.Write(ctx, ws, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": query}}))
	out := make(chan json.RawMessage)
	go func() {
		defer close(out)
		for {
			var m struct {
				Type    string
				Payload struct {
					Data   json.RawMessage
					Errors json.RawMessage
				}
			}
			if err := wsjson.Read(ctx, ws, &m); err != nil {
				return
			}
			if m.Type != "next" || m.Payload.Errors != nil {
				t.Errorf("subscription message %+v", m)
				return
			}
			out <- m.Payload.Data
		}
	}()
	return out
}
