package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

func TestPlaygroundHasAWorkingToken(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	res, err := http.Get(s.http.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := regexp.MustCompile(`"Authorization":\s*"Bearer ([A-Za-z0-9._-]+)"`).FindSubmatch(page)
	if res.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("playground (%d) has no Authorization header:\n%.500s", res.StatusCode, page)
	}
	var conn struct{ TotalCount int }
	s.post(string(m[1]), `{ providers { totalCount } }`, nil).into(t, "providers", &conn)

	// Outside the embedded setup there is no development token to hand out.
	s.app.devSecret = nil
	res, _ = http.Get(s.http.URL + "/")
	page, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if strings.Contains(string(page), "Bearer") {
		t.Fatal("a production playground carries a token")
	}
}

func TestHealthAndReadiness(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	get := func(path string) (int, map[string]string) {
		res, err := http.Get(s.http.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body map[string]string
		json.NewDecoder(res.Body).Decode(&body)
		return res.StatusCode, body
	}
	if code, body := get("/readyz"); code != 200 || body["database"] != "ok" || body["redis"] != "ok" {
		t.Fatalf("readyz = %d %v", code, body)
	}
	s.app.redis.Close() // Redis gone
	if code, body := get("/readyz"); code != 503 || body["redis"] != "unavailable" || body["database"] != "ok" {
		t.Fatalf("readyz without Redis = %d %v", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("healthz = %d", code)
	}
}

// dialGraphQLWS opens a graphql-transport-ws connection to the server at addr (host:port), sends
// connection_init with token, and returns the server's first answer.
func dialGraphQLWS(t *testing.T, ctx context.Context, addr, token string) (*websocket.Conn, map[string]any) {
	t.Helper()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/graphql", &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	if err := wsjson.Write(ctx, c, map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}}); err != nil {
		t.Fatal(err)
	}
	var msg map[string]any
	if err := wsjson.Read(ctx, c, &msg); err != nil {
		return c, map[string]any{"closed": err.Error()}
	}
	return c, msg
}

// TestWebsocketTransportAuthenticates speaks graphql-transport-ws: the connection_init payload
// carries the token, and operations on the socket act as that account.
func TestWebsocketTransportAuthenticates(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr := strings.TrimPrefix(s.http.URL, "http://")

	if _, msg := dialGraphQLWS(t, ctx, addr, "not-a-token"); msg["type"] == "connection_ack" {
		t.Fatalf("a bad token was acknowledged: %v", msg)
	}

	tok := s.token("acct_ws")
	s.createProvider(tok)
	c, msg := dialGraphQLWS(t, ctx, addr, tok)
	if msg["type"] != "connection_ack" {
		t.Fatalf("connection_init with a good token: %v", msg)
	}
	wsjson.Write(ctx, c, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": `{ providers { totalCount } }`}})
	if err := wsjson.Read(ctx, c, &msg); err != nil {
		t.Fatal(err)
	}
	if raw, _ := json.Marshal(msg["payload"]); msg["type"] != "next" || string(raw) != `{"data":{"providers":{"totalCount":1}}}` {
		t.Fatalf("query over the socket: %v", msg)
	}
}

// TestServeShutsDownGracefully: once Serve's context ends it returns, stops answering, and closes
// websocket connections too (http.Server does not track those).
func TestServeShutsDownGracefully(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.app.Serve(ctx, ln) }()
	addr := ln.Addr().String()
	res, err := http.Get("http://" + addr + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz before shutdown: %v %v", res, err)
	}
	res.Body.Close()
	wsCtx, wsCancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer wsCancel()
	c, msg := dialGraphQLWS(t, wsCtx, addr, s.token("acct_a"))
	if msg["type"] != "connection_ack" {
		t.Fatalf("websocket init: %v", msg)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve returned %v after shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Fatal("still serving after shutdown")
	}
	readCtx, readCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer readCancel()
	for {
		if err := wsjson.Read(readCtx, c, &msg); err != nil {
			if readCtx.Err() != nil {
				t.Fatal("the websocket was still open 5s after Serve returned")
			}
			break
		}
	}
}

func TestCORS(t *testing.T) {
	s := startServer(t, t.TempDir(), map[string]string{"SWITCHBOARD_CORS_ORIGINS": "https://app.example.com"})
	preflight := func(origin string) string {
		req, _ := http.NewRequest(http.MethodOptions, s.http.URL+"/graphql", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.Header.Get("Access-Control-Allow-Origin")
	}
	if got := preflight("https://app.example.com"); got != "https://app.example.com" {
		t.Fatalf("allowed origin got %q", got)
	}
	if got := preflight("https://evil.example.net"); got != "" {
		t.Fatalf("other origin got %q", got)
	}
	if _, err := ConfigFromEnv(func(k string) string {
		if k == "SWITCHBOARD_CORS_ORIGINS" {
			return "app.example.com"
		}
		return ""
	}); err == nil || !strings.Contains(err.Error(), "SWITCHBOARD_CORS_ORIGINS") {
		t.Fatalf("an origin without a scheme: %v", err)
	}
}

func TestPlaygroundTokenOnlyForLocalRequests(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	h := s.app.Handler()
	for _, tc := range []struct {
		remote, host string
		token        bool
	}{
		{"127.0.0.1:5000", "localhost:8080", true},
		{"[::1]:5000", "[::1]:8080", true},
		{"127.0.0.1:5000", "127.0.0.1", true},
		{"192.0.2.2:5000", "localhost:8080", false},       // from another machine
		{"127.0.0.1:5000", "rebound.example:8080", false}, // a page elsewhere, through DNS rebinding
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr, req.Host = tc.remote, tc.host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if got := strings.Contains(rec.Body.String(), "Bearer "); rec.Code != 200 || got != tc.token {
			t.Errorf("from %s to %s: status %d, token %v; want token %v", tc.remote, tc.host, rec.Code, got, tc.token)
		}
	}
}

func TestStartupErrorsHoldNoPassword(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), nil)
	cfg.RedisURL = "redis://:SuperSecretPw@127.0.0.1:notaport/0"
	_, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "SWITCHBOARD_REDIS_URL") || strings.Contains(err.Error(), "SuperSecretPw") {
		t.Fatalf("got %v", err)
	}
}

func TestDataFolderWithOddCharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "my data #1 ?x %41")
	s := startServer(t, dir, nil)
	s.createProvider(s.token("acct_a"))
	if _, err := os.Stat(filepath.Join(dir, "switchboard.db")); err != nil {
		t.Fatalf("the database is not inside the data folder: %v", err)
	}
}
