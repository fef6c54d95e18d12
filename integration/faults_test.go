package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/switchboard-dev/switchboard/caps"
	"github.com/switchboard-dev/switchboard/integration/client"
	"github.com/switchboard-dev/switchboard/internal/testenv"
)

// fault is how the fake carrier answers one create-call request.
type fault struct {
	delay  time.Duration // wait this long first
	status int           // answer this status and body; 0: fakeTwilio's 201 with the CallSid
	body   string
	reset  bool // answer nothing: reset the connection
	hang   bool // answer nothing until the client gives up (or the test ends)
}

// faultyTwilio puts faults in front of fakeTwilio. Every create-call request first goes through
// fakeTwilio, which checks Twilio's wire format and gives the call its CallSid (the carrier has
// the call, whatever reaches the client); then the fault chosen for the request's To number
// decides what the client gets. It records every request, so a call dialled twice shows.
type faultyTwilio struct {
	t     testing.TB
	inner *fakeTwilio
	srv   *httptest.Server
	done  chan struct{} // closed when the test ends: hung requests give up

	mu      sync.Mutex
	faults  map[string]fault // by To; none: answered at once
	got     []dialled
	arrived map[string]chan struct{} // by To: closed when the first request for it arrives
}

// dialled is one create-call request the carrier received.
type dialled struct {
	To     string
	CallID string // Switchboard's call id, from the StatusCallback URL
	Sid    string // the CallSid the carrier gave the call
}

func newFaultyTwilio(t testing.TB) *faultyTwilio {
	f := &faultyTwilio{t: t, inner: newFakeTwilio(t), done: make(chan struct{}),
		faults: map[string]fault{}, arrived: map[string]chan struct{}{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	t.Cleanup(func() { close(f.done) }) // before Close, which waits for the hung handlers
	return f
}

// set makes the requests for to answer with ft.
func (f *faultyTwilio) set(to string, ft fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[to] = ft
}

// arrival is closed once a request to call `to` has arrived.
func (f *faultyTwilio) arrival(to string) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.arrivalLocked(to)
}

func (f *faultyTwilio) arrivalLocked(to string) chan struct{} {
	ch, ok := f.arrived[to]
	if !ok {
		ch = make(chan struct{})
		f.arrived[to] = ch
	}
	return ch
}

// requests returns every create-call request received so far, in order of arrival.
func (f *faultyTwilio) requests() []dialled {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got)
}

// requestsTo returns the create-call requests for to.
func (f *faultyTwilio) requestsTo(to string) []dialled {
	var out []dialled
	for _, d := range f.requests() {
		if d.To == to {
			out = append(out, d)
		}
	}
	return out
}

func (f *faultyTwilio) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/Calls.json") {
		f.inner.serve(w, r)
		return
	}
	rec := httptest.NewRecorder()
	f.inner.serve(rec, r) // checks the request (it parses the form) and assigns the CallSid
	var created struct {
		Sid string `json:"sid"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &created); err != nil || created.Sid == "" {
		f.t.Errorf("faulty Twilio: fakeTwilio answered %d %q", rec.Code, rec.Body.String())
	}
	d := dialled{To: r.PostForm.Get("To"), Sid: created.Sid}
	if cb, err := url.Parse(r.PostForm.Get("StatusCallback")); err == nil {
		d.CallID = cb.Query().Get("call")
	}
	f.mu.Lock()
	f.got = append(f.got, d)
	ft := f.faults[d.To]
	if ch := f.arrivalLocked(d.To); !isClosed(ch) {
		close(ch)
	}
	f.mu.Unlock()

	if ft.delay > 0 {
		timer := time.NewTimer(ft.delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-r.Context().Done():
			return
		case <-f.done:
			return
		}
	}
	switch {
	case ft.hang:
		select {
		case <-r.Context().Done(): // the client gave up, or died
		case <-f.done:
		}
	case ft.reset:
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			f.t.Errorf("faulty Twilio: hijack: %v", err)
			return
		}
		if tcp, ok := conn.(*net.TCPConn); ok {
			tcp.SetLinger(0) // a reset, not an orderly close
		}
		conn.Close()
	case ft.status != 0:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(ft.status)
		io.WriteString(w, ft.body)
	default:
		maps.Copy(w.Header(), rec.Header())
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// outcome is what Switchboard must make of a carrier's answer.
type outcome int

const (
	placed      outcome = iota // the call is returned with the carrier's id
	refused                    // CARRIER_ERROR with the carrier's code; the call FAILED, its slot released
	unconfirmed                // CARRIER_ERROR OUTCOME_UNKNOWN; the call kept, its slot held
)

// unknownReason is the failure reason of a call whose dispatch the carrier never confirmed.
const unknownReason = "the carrier did not confirm the call; its status callback will settle it"

// callRows reads the calls matching the condition (on the calls table, $1 its argument), in id
// order, with the columns the books use.
func callRows(t *testing.T, db *pgxpool.Pool, cond string, arg any) []bookedCall {
	t.Helper()
	rows, err := db.Query(ctx, `SELECT id, status, dispatch, provider_call_id, failure_reason, caps_settled,
		created_at, ended_at, duration_seconds FROM calls WHERE `+cond+` ORDER BY id`, arg)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []bookedCall
	for rows.Next() {
		var c bookedCall
		if err := rows.Scan(&c.id, &c.status, &c.dispatch, &c.providerCallID, &c.failure, &c.settled, &c.created, &c.ended, &c.duration); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// toNumber is the number cs.originate(n, …) calls.
func toNumber(n int) string { return fmt.Sprintf("+1415557%04d", n) }

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// Concurrent originates against a carrier that answers slowly, fails (4xx, 5xx, garbage, a
// reset connection) or never answers. No call is dialled twice, also when a client retries
// with the same idempotency key while its first attempt is in flight; every answer maps to
// its GraphQL result and call state (a 4xx is a refusal; a 5xx, like a timeout, leaves the
// outcome unknown); every reservation is held by a live call or released, before and after
// the live calls complete through signed status callbacks.
func TestCarrierSlowFailingAndTimingOut(t *testing.T) {
	carrier := newFaultyTwilio(t)
	cs := newCallStack(t, map[string]string{"SWITCHBOARD_CARRIER_API_URLS": "twilio=" + carrier.srv.URL})
	cs.limit(t, "concurrentMax", 100)
	db := cs.db(t)
	const account = "acct_caller" // newCallStack's

	invalidTo := `{"code": 21211, "message": "The 'To' number is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}`
	cases := []struct {
		name  string
		fault fault
		want  outcome
		code  string // the carrierCode of a refusal (4xx)
		key   string // idempotency key; "" for none
		// retry sends a second request with key as soon as the carrier has the first.
		retry bool
	}{
		{name: "answers at once", want: placed},
		{name: "answers at once, with a key", want: placed, key: "k-at-once"},
		{name: "answers at once", want: placed},
		{name: "answers after 1.5s", fault: fault{delay: 1500 * time.Millisecond}, want: placed},
		{name: "answers after 1.5s, retried in flight", fault: fault{delay: 1500 * time.Millisecond}, want: placed, key: "k-slow", retry: true},
		{name: "answers after 1s", fault: fault{delay: time.Second}, want: placed},
		{name: "400 invalid To", fault: fault{status: 400, body: invalidTo}, want: refused, code: "21211", key: "k-refused"},
		{name: "400 invalid To", fault: fault{status: 400, body: invalidTo}, want: refused, code: "21211"},
		// A 5xx may come after the carrier created the call (here it always has): unknown.
		{name: "500", fault: fault{status: 500, body: `{"code": 20500, "message": "An internal server error has occurred", "status": 500}`}, want: unconfirmed},
		{name: "500 after 1s, retried in flight", fault: fault{delay: time.Second, status: 500, body: `{"code": 20500, "message": "An internal server error has occurred", "status": 500}`}, want: unconfirmed, key: "k-500", retry: true},
		{name: "503 HTML", fault: fault{status: 503, body: `<html><body>Service Unavailable</body></html>`}, want: unconfirmed},
		{name: "503 after 1s", fault: fault{delay: time.Second, status: 503, body: `{"code": 20503, "message": "Service unavailable", "status": 503}`}, want: unconfirmed},
		{name: "502 from a gateway", fault: fault{status: 502, body: `<html>Bad Gateway</html>`}, want: unconfirmed},
		{name: "201 with a garbage body", fault: fault{status: 201, body: "\x00\xff not JSON at all"}, want: unconfirmed},
		{name: "201 with truncated JSON", fault: fault{status: 201, body: `{"sid": "CA0123`}, want: unconfirmed},
		{name: "201 without a sid", fault: fault{status: 201, body: `{"status": "queued"}`}, want: unconfirmed},
		{name: "connection reset", fault: fault{reset: true}, want: unconfirmed},
		{name: "connection reset after 1s", fault: fault{delay: time.Second, reset: true}, want: unconfirmed},
		{name: "never answers", fault: fault{hang: true}, want: unconfirmed},
		{name: "never answers, retried in flight", fault: fault{hang: true}, want: unconfirmed, key: "k-hang", retry: true},
	}

	type result struct {
		call client.CallFields
		err  error
	}
	results := make([]result, len(cases))
	retries := make([]result, len(cases))
	for i, tc := range cases {
		carrier.set(toNumber(i), tc.fault)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i, tc := range cases {
		var key *string
		if tc.key != "" {
			key = &tc.key
		}
		wg.Go(func() { results[i].call, results[i].err = cs.originate(i, key) })
		if tc.retry {
			wg.Go(func() {
				select {
				case <-carrier.arrival(toNumber(i)):
				case <-time.After(time.Minute):
					retries[i].err = fmt.Errorf("the first attempt never reached the carrier")
					return
				}
				retries[i].call, retries[i].err = cs.originate(i, key)
			})
		}
	}
	wg.Wait()
	t.Logf("%d originates and their in-flight retries answered in %s", len(cases), time.Since(start).Round(time.Millisecond))

	var live []int // the cases whose call is still in progress
	rows := make([]bookedCall, len(cases))
	for i, tc := range cases {
		res, to := results[i], toNumber(i)
		got := callRows(t, db, "to_e164 = $1", to)
		if len(got) != 1 {
			t.Errorf("%s (%s): %d call rows, want 1", tc.name, to, len(got))
			continue
		}
		row := got[0]
		rows[i] = row
		dials := carrier.requestsTo(to)
		if len(dials) != 1 || dials[0].CallID != row.id {
			t.Errorf("%s: the carrier received %v for call %s; want exactly one request for it", tc.name, dials, row.id)
			continue
		}
		switch tc.want {
		case placed:
			if res.err != nil {
				t.Errorf("%s: %s", tc.name, describe(res.err))
				continue
			}
			if res.call.Id != row.id || res.call.Status != client.CallStatusQueued || deref(res.call.ProviderCallID) != dials[0].Sid {
				t.Errorf("%s: returned %+v; want call %s QUEUED with the carrier's id %s", tc.name, res.call, row.id, dials[0].Sid)
			}
			if row.status != "QUEUED" || row.dispatch != "sent" || deref(row.providerCallID) != dials[0].Sid || row.failure != nil {
				t.Errorf("%s: row %+v; want QUEUED, sent, carrier id %s", tc.name, row, dials[0].Sid)
			}
			live = append(live, i)
		case refused:
			list := gqlErrors(res.err)
			if len(list) != 1 {
				t.Errorf("%s: want one CARRIER_ERROR, got %v", tc.name, res.err)
				continue
			}
			ext := list[0].Extensions
			if ext["code"] != "CARRIER_ERROR" || ext["carrierCode"] != tc.code || ext["httpStatus"] != float64(tc.fault.status) || ext["carrier"] != "twilio" {
				t.Errorf("%s: extensions %v; want CARRIER_ERROR from twilio, carrierCode %s, httpStatus %d", tc.name, ext, tc.code, tc.fault.status)
			}
			if want := "twilio refused the call (" + tc.code + "): "; !strings.HasPrefix(list[0].Message, want) {
				t.Errorf("%s: message %q; want it to start %q", tc.name, list[0].Message, want)
			}
			wantReason := fmt.Sprintf("not placed: twilio refused the request (HTTP %d", tc.fault.status)
			if row.status != "FAILED" || row.dispatch != "refused" || !strings.HasPrefix(deref(row.failure), wantReason) ||
				!row.settled || row.ended == nil || row.providerCallID != nil {
				t.Errorf("%s: row %+v (reason %q); want FAILED, refused, settled, reason %q…", tc.name, row, deref(row.failure), wantReason)
			}
		case unconfirmed:
			list := gqlErrors(res.err)
			if len(list) != 1 {
				t.Errorf("%s: want one CARRIER_ERROR, got %v", tc.name, res.err)
				continue
			}
			ext, msg := list[0].Extensions, list[0].Message
			if ext["code"] != "CARRIER_ERROR" || ext["carrierCode"] != "OUTCOME_UNKNOWN" || ext["callID"] != row.id {
				t.Errorf("%s: extensions %v; want CARRIER_ERROR OUTCOME_UNKNOWN naming call %s", tc.name, ext, row.id)
			}
			if !strings.Contains(msg, row.id) || !strings.Contains(msg, "do not place it again") {
				t.Errorf("%s: message %q; want it to name the call and say not to place it again", tc.name, msg)
			}
			if row.status != "QUEUED" || row.dispatch != "unknown" || deref(row.failure) != unknownReason ||
				row.settled || row.ended != nil || row.providerCallID != nil {
				t.Errorf("%s: row %+v (reason %q); want QUEUED, unknown, unsettled, reason %q", tc.name, row, deref(row.failure), unknownReason)
			}
			live = append(live, i)
		}
		if tc.retry {
			if r := retries[i]; r.err != nil || r.call.Id != row.id {
				t.Errorf("%s: the retry with the same key returned %+v, %v; want call %s", tc.name, r.call, r.err, row.id)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	if got := len(carrier.requests()); got != len(cases) {
		t.Fatalf("the carrier received %d create-call requests for %d calls", got, len(cases))
	}
	if n := cs.carrier.calls.Load(); n != 0 {
		t.Fatalf("newCallStack's own fake carrier received %d requests", n)
	}

	// Every live call holds its slot; every refused call gave its reservation back.
	u := checkBooks(t, cs.stack, account)
	if u.Concurrent != len(live) || u.CallsToday != len(live) || u.MinutesToday != 0 {
		t.Fatalf("usage %+v; want %d calls in progress and today, no minutes", u, len(live))
	}

	// A key used by a refused call returns that call and dials nothing, now as within 24 h.
	for i, tc := range cases {
		if tc.key == "" || tc.want != refused {
			continue
		}
		again, err := cs.originate(i, &tc.key)
		must(t, err)
		if again.Id != rows[i].id || again.Status != client.CallStatusFailed || again.FailureReason == nil {
			t.Fatalf("%s: a retry with its key returned %+v; want the FAILED call %s", tc.name, again, rows[i].id)
		}
		if n := len(carrier.requestsTo(toNumber(i))); n != 1 {
			t.Fatalf("%s: dialled %d times", tc.name, n)
		}
	}

	// The carrier reports every live call's end, those it never confirmed included (the call id
	// in the callback URL finds them); each frees its slot and charges its minute.
	for _, i := range live {
		sid := carrier.requestsTo(toNumber(i))[0].Sid
		if code := cs.srv.twilioCallback(t, cs.providerID, rows[i].id, sid, "completed", url.Values{"CallDuration": {"30"}}, twilioToken); code != http.StatusNoContent {
			t.Fatalf("%s: completed callback: HTTP %d", cases[i].name, code)
		}
		got := callRows(t, db, "id = $1", rows[i].id)[0]
		if got.status != "COMPLETED" || got.dispatch != "sent" || deref(got.providerCallID) != sid || got.duration != 30 || got.failure != nil || !got.settled {
			t.Fatalf("%s: after its completed callback the row is %+v (reason %q)", cases[i].name, got, deref(got.failure))
		}
	}
	u = checkBooks(t, cs.stack, account)
	if u.Concurrent != 0 || u.CallsToday != len(live) || u.MinutesToday != len(live) {
		t.Fatalf("usage %+v; want nothing in progress, %d calls today, %d minutes", u, len(live), len(live))
	}
	if got := len(carrier.requests()); got != len(cases) {
		t.Fatalf("the carrier received %d create-call requests for %d calls", got, len(cases))
	}
}

// buildServer compiles the server (server.go at the module root) into a temporary folder.
func buildServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "switchboard")
	bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(bctx, "go", "build", "-ldflags=-s -w", "-o", bin, "github.com/switchboard-dev/switchboard").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built the server in %s", time.Since(start).Round(time.Millisecond))
	return bin
}

// outputLog collects the output of every run of the server process.
type outputLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *outputLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *outputLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// process is the server binary running as a child process, configured only by env.
type process struct {
	*server // its URL, for clients and callbacks
	cmd     *exec.Cmd
	exited  chan struct{} // closed once it has exited and its output is collected
}

// startProcess runs bin serve with env alone (nothing of this process's environment), its
// output going to out, and waits until it is ready. The process is killed when t ends.
func startProcess(t *testing.T, bin string, env map[string]string, out *outputLog) *process {
	t.Helper()
	fmt.Fprintf(out, "--- %s: start\n", time.Now().Format(time.TimeOnly))
	cmd := exec.Command(bin, "serve")
	for _, k := range slices.Sorted(maps.Keys(env)) {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{server: &server{URL: "http://" + env["SWITCHBOARD_ADDR"], stop: func() {}}, cmd: cmd, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.kill)

	probe := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(time.Minute); ; {
		select {
		case <-p.exited:
			t.Fatalf("the server exited before it was ready: %v", cmd.ProcessState)
		default:
		}
		if res, err := probe.Get(p.URL + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the server was not ready within a minute")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill sends SIGKILL, unless the process has exited, and waits for it.
func (p *process) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Kill() // SIGKILL on Unix
	<-p.exited
}

// waitFor polls cond until it holds, failing t with what after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after a minute waiting until %s", what)
		}
	}
}

// The server binary is SIGKILLed while the carrier holds three of its create-call requests and
// while a fourth call, reserved in Redis, waits to insert its row. Nothing is lost: the three
// rows are there (pending), their slots still count after a restart on the same port and
// configuration, and the restart dials nothing again. A signed callback to the restarted server
// completes one; the reservation without a row is reclaimed when its lease lapses; the two
// calls the carrier never confirmed are failed by the sweeper and free their slots.
func TestServerKilledMidOriginate(t *testing.T) {
	st := newStack(t)
	db := st.db(t)
	carrier := newFaultyTwilio(t)
	bin := buildServer(t)

	out := &outputLog{}
	secrets := []string{jwtSecret, secretsURL, st.DatabaseURL, st.RedisURL}
	t.Cleanup(func() { // registered first, so it runs after every process is killed
		if t.Failed() {
			log := out.String()
			for _, s := range secrets {
				log = strings.ReplaceAll(log, s, "[redacted]")
			}
			t.Logf("server output:\n%s", log)
		}
	})

	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	env := st.env(t)
	maps.Copy(env, map[string]string{
		"SWITCHBOARD_ADDR":             addr,
		"SWITCHBOARD_PUBLIC_URL":       "http://" + addr,
		"SWITCHBOARD_CARRIER_API_URLS": "twilio=" + carrier.srv.URL,
		"SWITCHBOARD_ANSWER_URL":       "https://voice.example/answer/{session}",
		"SWITCHBOARD_CAPS_LEASE":       "10s",
		"SWITCHBOARD_SWEEP_INTERVAL":   "1s",
		// Postgres drops a dead client's session even while its statement waits on a lock.
		"SWITCHBOARD_DATABASE_URL": st.DatabaseURL + "&client_connection_check_interval=200",
	})
	if !strings.Contains(st.DatabaseURL, "?") {
		t.Fatalf("the test database URL has no query to add to")
	}

	began := time.Now()
	phase := func(what string) { t.Logf("%6.1fs  %s", time.Since(began).Seconds(), what) }
	first := startProcess(t, bin, env, out)
	phase("first server ready")
	const account, orphanAccount = "acct_killed", "acct_orphan"
	c := first.client(t, account)
	providerID := twilioProvider(t, c)
	createNumber(t, c, providerID, callerID, nil)
	(&callStack{c: c}).limit(t, "concurrentMax", 3)
	c2 := first.client(t, orphanAccount)
	createNumber(t, c2, twilioProvider(t, c2), "+14155550181", nil)
	(&callStack{c: c2}).limit(t, "concurrentMax", 1)

	// Three calls reach the carrier, which holds them.
	for n := range 3 {
		carrier.set(toNumber(n), fault{hang: true})
	}
	errs := make(chan error, 4)
	for n := range 3 {
		go func() {
			_, err := client.OriginateCall(ctx, c, client.OriginateCallInput{From: callerID, To: toNumber(n)})
			errs <- err
		}()
	}
	waitFor(t, "the carrier has the three calls", func() bool { return len(carrier.requests()) == 3 })
	pending := callRows(t, db, "account_id = $1", account)
	if len(pending) != 3 {
		t.Fatalf("%d call rows while the carrier holds 3 calls", len(pending))
	}

	// A fourth call, of another account, is reserved but cannot write its row: the test holds
	// a lock on the calls table that an INSERT waits for.
	tx, err := db.Begin(ctx)
	must(t, err)
	defer tx.Rollback(ctx)
	_, err = tx.Exec(ctx, "LOCK TABLE calls IN EXCLUSIVE MODE")
	must(t, err)
	go func() {
		_, err := client.OriginateCall(ctx, c2, client.OriginateCallInput{From: "+14155550181", To: toNumber(9)})
		errs <- err
	}()
	opts, err := redis.ParseURL(st.RedisURL)
	must(t, err)
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	held := func(account string) []string {
		ids, err := rdb.ZRangeByScore(ctx, "caps:{"+account+"}:active",
			&redis.ZRangeBy{Min: fmt.Sprintf("(%d", time.Now().UnixMilli()), Max: "+inf"}).Result()
		must(t, err)
		return ids
	}
	insertWaiting := func() bool {
		var n int
		must(t, db.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
			AND query ILIKE 'INSERT INTO%calls%' AND wait_event_type = 'Lock'`).Scan(&n))
		return n > 0
	}
	var orphan string
	waitFor(t, "the fourth call is reserved and its INSERT waits", func() bool {
		if ids := held(orphanAccount); len(ids) == 1 && insertWaiting() {
			orphan = ids[0]
			return true
		}
		return false
	})

	first.kill()
	phase("first server killed mid-originate")
	// When the last lease the killed server renewed ends (scores are lease ends, in ms).
	last, err := rdb.ZRangeWithScores(ctx, "caps:{"+account+"}:active", -1, -1).Result()
	must(t, err)
	if len(last) != 1 {
		t.Fatalf("no slots held by %s when its server was killed", account)
	}
	killedLeases := int64(last[0].Score)
	if first.cmd.ProcessState.Exited() {
		t.Fatalf("the server was not killed by a signal: %v", first.cmd.ProcessState)
	}
	fmt.Fprintf(out, "--- %s: killed (%v)\n", time.Now().Format(time.TimeOnly), first.cmd.ProcessState)
	// Postgres notices the dead client and ends its session, INSERT and all; only then does the
	// test let go of the table.
	waitFor(t, "Postgres ends the dead server's waiting INSERT", func() bool { return !insertWaiting() })
	must(t, tx.Rollback(ctx))
	for range 4 {
		if err := <-errs; err == nil {
			t.Fatal("an originateCall answered by the killed server succeeded")
		}
	}

	// Restart on the same address and configuration.
	second := startProcess(t, bin, env, out)
	phase("second server ready")
	rows := callRows(t, db, "account_id = $1", account)
	if len(rows) != 3 {
		t.Fatalf("%d call rows after the restart, want 3", len(rows))
	}
	sids := map[string]string{} // call id → the CallSid the carrier gave it
	for _, d := range carrier.requests() {
		sids[d.CallID] = d.Sid
	}
	for _, r := range rows {
		if _, dialled := sids[r.id]; !dialled || r.status != "QUEUED" || r.dispatch != "pending" || r.providerCallID != nil || r.ended != nil {
			t.Fatalf("after the kill, call %+v (dialled: %v); want every dialled call QUEUED and pending", r, dialled)
		}
	}
	if n := len(callRows(t, db, "account_id = $1", orphanAccount)); n != 0 {
		t.Fatalf("the call whose INSERT was cut off has %d rows", n)
	}
	// The reservation without a row is not renewed: its lease lapses and the slot is free again.
	waitFor(t, "the orphaned reservation's lease lapses", func() bool { return !slices.Contains(held(orphanAccount), orphan) })
	u, err := caps.New(rdb, caps.Options{}).Usage(ctx, orphanAccount)
	must(t, err)
	if u.Concurrent != 0 {
		t.Fatalf("usage of %s %+v after its only reservation lapsed", orphanAccount, u)
	}
	res, err := client.OriginateCall(ctx, second.client(t, orphanAccount), client.OriginateCallInput{From: "+14155550181", To: toNumber(10)})
	must(t, err)
	if res.OriginateCall.ProviderCallID == nil {
		t.Fatalf("the call admitted in the freed slot: %+v", res.OriginateCall.CallFields)
	}
	phase("orphaned reservation reclaimed")

	// The leases the killed server left have lapsed: the three calls hold their slots only because
	// the restarted sweeper renews them. They still count against concurrentMax 3.
	waitFor(t, "the killed server's leases lapse", func() bool { return time.Now().UnixMilli() > killedLeases })
	if u := checkBooks(t, st, account); u.Concurrent != 3 || u.CallsToday != 3 {
		t.Fatalf("usage after the restart %+v; want 3 in progress and today", u)
	}
	c = second.client(t, account)
	_, err = client.OriginateCall(ctx, c, client.OriginateCallInput{From: callerID, To: toNumber(3)})
	if msg := wantCode(t, err, "CAP_EXCEEDED", ""); gqlErrors(err)[0].Extensions["dimension"] != "concurrent" {
		t.Fatalf("refused on %v, want concurrent: %s", gqlErrors(err)[0].Extensions["dimension"], msg)
	}

	phase("the three calls still hold their slots")

	// The carrier reports the first call's end to the restarted server.
	done := rows[0]
	if code := second.twilioCallback(t, providerID, done.id, sids[done.id], "completed", url.Values{"CallDuration": {"42"}}, twilioToken); code != http.StatusNoContent {
		t.Fatalf("completed callback: HTTP %d", code)
	}
	if got := callRows(t, db, "id = $1", done.id)[0]; got.status != "COMPLETED" || deref(got.providerCallID) != sids[done.id] || got.duration != 42 || !got.settled {
		t.Fatalf("after its callback the call is %+v", got)
	}
	if u := checkBooks(t, st, account); u.Concurrent != 2 || u.MinutesToday != 1 {
		t.Fatalf("usage after the callback %+v; want 2 in progress and 1 minute", u)
	}

	// Restarted with a short unconfirmed timeout, the sweeper fails the two calls the carrier
	// never confirmed and frees their slots.
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-second.exited
	if !second.cmd.ProcessState.Success() {
		t.Fatalf("the server did not stop cleanly on SIGTERM: %v", second.cmd.ProcessState)
	}
	env["SWITCHBOARD_UNCONFIRMED_TIMEOUT"] = "11s"
	startProcess(t, bin, env, out)
	phase("third server ready (unconfirmed timeout 11s)")
	waitFor(t, "the sweeper fails the unconfirmed calls", func() bool {
		for _, r := range callRows(t, db, "account_id = $1", account) {
			if r.status != "COMPLETED" && r.status != "FAILED" {
				return false
			}
		}
		return true
	})
	phase("unconfirmed calls failed by the sweeper")
	for _, r := range callRows(t, db, "account_id = $1", account) {
		if r.id == done.id {
			continue
		}
		// Still pending: no callback proved the carrier has it.
		if r.status != "FAILED" || r.dispatch != "pending" || deref(r.failure) != "the carrier never confirmed the call" || r.ended == nil || !r.settled || r.duration != 0 {
			t.Fatalf("unconfirmed call after the sweep: %+v (reason %q)", r, deref(r.failure))
		}
	}
	if u := checkBooks(t, st, account); u.Concurrent != 0 || u.CallsToday != 3 || u.MinutesToday != 1 {
		t.Fatalf("usage after the sweep %+v; want nothing in progress, 3 calls today, 1 minute", u)
	}
	// Not one call was dialled twice: the carrier saw each number once.
	var tos []string
	for _, d := range carrier.requests() {
		tos = append(tos, d.To)
	}
	if want := []string{toNumber(0), toNumber(1), toNumber(2), toNumber(10)}; !slices.Equal(slices.Sorted(slices.Values(tos)), want) {
		t.Fatalf("the carrier received calls to %v; want each of %v once", tos, want)
	}
}
