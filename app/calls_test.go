package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket/wsjson"
)

const sandboxToken = "sandbox-token-0123456789"

// createSandboxNumber makes a sandbox provider with these call timings and a number on it.
func (s *testServer) createSandboxNumber(tok, e164 string, creds map[string]any) string {
	s.t.Helper()
	creds["token"] = sandboxToken
	var p providerOut
	s.post(tok, createProviderOp, map[string]any{"in": map[string]any{"carrier": "sandbox", "label": "Sandbox", "credentials": creds}}).into(s.t, "createProvider", &p)
	return s.createNumber(tok, p.ID, e164, nil).ID
}

const originateOp = `mutation($in: OriginateCallInput!) { originateCall(input: $in) { id status sessionID providerCallID carrier fromE164 toE164 } }`

type callOut struct {
	ID, Status, SessionID, Carrier, FromE164, ToE164 string
	ProviderCallID                                   *string
	DurationSeconds                                  int
}

// The whole lifecycle in the embedded setup, from the playground's point of view: a sandbox call
// rings, is answered and hangs up; a subscriber sees every status in order; usage charges a
// started minute per call.
func TestSandboxCallLifecycleAndSubscription(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	tok := s.token("acct_calls")
	s.createSandboxNumber(tok, "+14155550170", map[string]any{"ring_seconds": "0.05", "talk_seconds": "0.2"})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ws, msg := dialGraphQLWS(t, ctx, strings.TrimPrefix(s.http.URL, "http://"), tok)
	if msg["type"] != "connection_ack" {
		t.Fatalf("connection_init: %v", msg)
	}
	if err := wsjson.Write(ctx, ws, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
		"query": `subscription { callUpdated { id status durationSeconds } }`}}); err != nil {
		t.Fatal(err)
	}
	type update struct {
		Type    string
		Payload struct {
			Data struct{ CallUpdated callOut }
		}
	}
	next := func() callOut {
		var m update
		if err := wsjson.Read(ctx, ws, &m); err != nil || m.Type != "next" {
			t.Fatalf("subscription message %+v: %v", m, err)
		}
		return m.Payload.Data.CallUpdated
	}
	// The subscription is live once it delivers: a first call proves it, the second is watched.
	var probe, c callOut
	s.post(tok, originateOp, map[string]any{"in": map[string]any{"from": "+14155550170", "to": "+14155550998"}}).into(t, "originateCall", &probe)
	for u := next(); u.ID != probe.ID || u.Status != "COMPLETED"; u = next() {
	}

	s.post(tok, originateOp, map[string]any{"in": map[string]any{"from": "+14155550170", "to": "+14155550999"}}).into(t, "originateCall", &c)
	// The answer shows the call as dispatched, though the sandbox may already have rung it.
	if c.Status != "QUEUED" || c.ProviderCallID == nil || !strings.HasPrefix(*c.ProviderCallID, "SB") || !strings.HasPrefix(c.SessionID, "sess_") || c.Carrier != "sandbox" {
		t.Fatalf("originateCall returned %+v", c)
	}
	var seen []string
	for len(seen) < 3 {
		u := next()
		if u.ID != c.ID {
			t.Fatalf("update of another call: %+v", u)
		}
		seen = append(seen, u.Status)
	}
	if got := strings.Join(seen, " "); got != "RINGING IN_PROGRESS COMPLETED" {
		t.Fatalf("subscriber saw %q, want RINGING IN_PROGRESS COMPLETED", got)
	}

	var stored struct {
		Status          string
		DurationSeconds int
		AnsweredAt      *time.Time
		EndedAt         *time.Time
	}
	s.post(tok, `query($id: ID!) { node(id: $id) { ... on Call { status durationSeconds answeredAt endedAt } } }`, map[string]any{"id": c.ID}).into(t, "node", &stored)
	if stored.Status != "COMPLETED" || stored.AnsweredAt == nil || stored.EndedAt == nil {
		t.Fatalf("stored call %+v", stored)
	}
	var usage struct {
		Concurrent, CallsLastMinute, CallsToday, MinutesToday int
	}
	s.post(tok, `{ usage { concurrent callsLastMinute callsToday minutesToday limits { concurrentMax } } }`, nil).into(t, "usage", &usage)
	if usage.Concurrent != 0 || usage.CallsLastMinute != 2 || usage.CallsToday != 2 || usage.MinutesToday != 2 {
		t.Fatalf("usage after two completed calls of under a minute: %+v", usage)
	}
}

// The calls connection filters by status, caller ID, agent and time.
func TestCallsAreListedAndFiltered(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	tok := s.token("acct_list")
	s.createSandboxNumber(tok, "+14155550171", map[string]any{"outcome": "busy", "ring_seconds": "0.01"})
	start := time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)
	var ids []string
	for i := range 3 {
		var c callOut
		in := map[string]any{"from": "+14155550171", "to": "+1415555099" + string(rune('0'+i))}
		if i == 0 {
			in["agentID"] = "agent_a"
		}
		s.post(tok, originateOp, map[string]any{"in": in}).into(t, "originateCall", &c)
		ids = append(ids, c.ID)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var conn struct{ TotalCount int }
		s.post(tok, `{ calls(where: {status: BUSY}) { totalCount } }`, nil).into(t, "calls", &conn)
		if conn.TotalCount == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 3 sandbox calls ended BUSY", conn.TotalCount)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var conn struct {
		TotalCount int
		Edges      []struct{ Node callOut }
	}
	s.post(tok, `query($since: Time!) { calls(where: {agentID: "agent_a", fromE164: "+14155550171", createdAtGTE: $since}) { totalCount edges { node { id } } } }`,
		map[string]any{"since": start}).into(t, "calls", &conn)
	if conn.TotalCount != 1 || conn.Edges[0].Node.ID != ids[0] {
		raw, _ := json.Marshal(conn)
		t.Fatalf("calls of agent_a: %s", raw)
	}
	other := s.token("acct_other")
	s.post(other, `{ calls { totalCount } }`, nil).into(t, "calls", &conn)
	if conn.TotalCount != 0 {
		t.Fatalf("another account sees %d calls", conn.TotalCount)
	}
}

// With a call processor configured, originateCall hands the call to it instead of the carrier:
// one POST to /telephony/originate with everything it needs to dial and report back.
func TestCallProcessorDispatch(t *testing.T) {
	var got []map[string]any
	var mu sync.Mutex
	processor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if r.Method != http.MethodPost || r.URL.Path != "/telephony/originate" || r.Header.Get("Content-Type") != "application/json" ||
			json.NewDecoder(r.Body).Decode(&body) != nil {
			t.Errorf("call processor got %s %s %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		mu.Lock()
		got = append(got, body)
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"providerCallID": "CP-1"}`)
	}))
	defer processor.Close()
	s := startServer(t, t.TempDir(), map[string]string{
		"SWITCHBOARD_CALL_PROCESSOR_URL": processor.URL,
		"SWITCHBOARD_ANSWER_URL":         "https://voice.example/answer?session={session}",
	})
	tok := s.token("acct_cp")
	s.createSandboxNumber(tok, "+14155550172", map[string]any{})
	var c callOut
	s.post(tok, originateOp, map[string]any{"in": map[string]any{"from": "+14155550172", "to": "+14155550998", "agentID": "agent_x"}}).into(t, "originateCall", &c)
	if c.ProviderCallID == nil || *c.ProviderCallID != "CP-1" {
		t.Fatalf("call %+v", c)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("call processor received %d requests", len(got))
	}
	req := got[0]
	want := map[string]any{
		"callID": c.ID, "accountID": "acct_cp", "sessionID": c.SessionID, "carrier": "sandbox",
		"from": "+14155550172", "to": "+14155550998", "agentID": "agent_x",
		"answerURL": "https://voice.example/answer?session=" + c.SessionID,
	}
	for k, v := range want {
		if req[k] != v {
			t.Errorf("%s = %v, want %v", k, req[k], v)
		}
	}
	if cb, _ := req["statusCallbackURL"].(string); !strings.HasPrefix(cb, s.http.URL+"/webhooks/sandbox/prov_") || !strings.HasSuffix(cb, "?call="+c.ID) {
		t.Errorf("statusCallbackURL %q", cb)
	}
	if p, _ := req["providerID"].(string); !strings.HasPrefix(p, "prov_") {
		t.Errorf("providerID %q", p)
	}
}

// The sweeper keeps the caps in step with the calls: after Redis loses its memory it rebuilds
// the counters (the call in progress keeps its slot); a call that never reports its end is
// failed after MaxCallDuration, charged from its answer and freed; and sweeping again charges
// nothing twice.
func TestSweeperRebuildsFailsStaleCallsAndChargesOnce(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	tok := s.token("acct_sweep")
	s.createSandboxNumber(tok, "+14155550173", map[string]any{"ring_seconds": "0.01", "talk_seconds": "600"})
	var c callOut
	s.post(tok, originateOp, map[string]any{"in": map[string]any{"from": "+14155550173", "to": "+14155550997"}}).into(t, "originateCall", &c)
	usage := func() (u struct{ Concurrent, CallsToday, MinutesToday int }) {
		s.post(tok, `{ usage { concurrent callsToday minutesToday } }`, nil).into(t, "usage", &u)
		return u
	}
	status := func() (got struct{ Status string }) {
		s.post(tok, `query($id: ID!) { node(id: $id) { ... on Call { status } } }`, map[string]any{"id": c.ID}).into(t, "node", &got)
		return got
	}
	for deadline := time.Now().Add(10 * time.Second); status().Status != "IN_PROGRESS"; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the sandbox call was never answered")
		}
	}

	ctx := context.Background()
	if err := s.app.redis.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	s.app.Calls().Sweep(ctx)
	if u := usage(); u.Concurrent != 1 || u.CallsToday != 1 {
		t.Fatalf("after Redis lost its memory and a sweep: %+v, want the call in progress counted", u)
	}

	// Five hours later the carrier has still not said the call ended.
	if _, err := s.app.db.ExecContext(ctx, `UPDATE calls SET created_at = ?, answered_at = ? WHERE id = ?`,
		time.Now().UTC().Add(-5*time.Hour), time.Now().UTC().Add(-5*time.Hour+time.Minute), c.ID); err != nil {
		t.Fatal(err)
	}
	s.app.Calls().Sweep(ctx)
	if got := status(); got.Status != "FAILED" {
		t.Fatalf("stale call is %s, want FAILED", got.Status)
	}
	want := struct{ Concurrent, CallsToday, MinutesToday int }{0, 1, 300}
	if u := usage(); u != want {
		t.Fatalf("after failing the stale call: %+v, want %+v (the 4h59m+ since its answer, in started minutes)", u, want)
	}
	s.app.Calls().Sweep(ctx)
	if u := usage(); u != want {
		t.Fatalf("a second sweep changed the books: %+v", u)
	}
}

// An ended call whose settlement Redis missed is settled by the next sweep, once: after Redis
// lost its memory the rebuild counts it and marks it settled, so nothing is charged twice.
func TestSweeperSettlesEndedCallsOnce(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	tok := s.token("acct_settle")
	s.createSandboxNumber(tok, "+14155550174", map[string]any{"ring_seconds": "0.01", "talk_seconds": "0.01"})
	var c callOut
	s.post(tok, originateOp, map[string]any{"in": map[string]any{"from": "+14155550174", "to": "+14155550996"}}).into(t, "originateCall", &c)
	ctx := context.Background()
	settled := func() (done bool) {
		if err := s.app.db.QueryRowContext(ctx, `SELECT caps_settled FROM calls WHERE id = ?`, c.ID).Scan(&done); err != nil {
			t.Fatal(err)
		}
		return done
	}
	for deadline := time.Now().Add(10 * time.Second); !settled(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the sandbox call was never settled")
		}
	}
	// Redis forgets everything, and the call's settlement with it.
	if _, err := s.app.db.ExecContext(ctx, `UPDATE calls SET caps_settled = false WHERE id = ?`, c.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.app.redis.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		s.app.Calls().Sweep(ctx)
		if !settled() {
			t.Fatal("the sweep did not settle the ended call")
		}
		var u struct{ Concurrent, CallsToday, MinutesToday int }
		s.post(tok, `{ usage { concurrent callsToday minutesToday } }`, nil).into(t, "usage", &u)
		if u.Concurrent != 0 || u.CallsToday != 1 || u.MinutesToday != 1 {
			t.Fatalf("usage %+v, want one call and one minute, charged once", u)
		}
	}
}
