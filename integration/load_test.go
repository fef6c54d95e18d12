package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Khan/genqlient/graphql"

	"github.com/switchboard-dev/switchboard/integration/client"
	"github.com/switchboard-dev/switchboard/internal/testenv"
)

// The load tests place calls through the sandbox carrier, which answers with real signed status
// callbacks, from two replicas sharing one Postgres and one Redis, at a steady rate for a fixed
// time; then they wait until every call has ended and check that the caps counters in Redis
// balance with the rows in Postgres (checkBooks). Each runs in well under a minute, but for
// TestRedisStoppedMidLoad, which waits for its long calls (longTalk).

const loadAccount = "acct_load"

// The load account's caller IDs, one per simulated call.
const (
	shortFrom = "+14155550301" // the load's usual call: answered, 2 s of talk
	busyFrom  = "+14155550302" // every fourth call of the load: busy
	midFrom   = "+14155550303" // a burst that fills the concurrent cap for a few seconds
	longFrom  = "+14155550304" // calls that hold their slots across an outage
)

// loadNumber is a caller ID, the sandbox provider behind it and the outcome of its calls.
type loadNumber struct {
	from, creds string
	status      string // the final status
	talk        int    // the talk seconds billed: the sandbox's talk_seconds rounded up
}

var loadNumbers = []loadNumber{
	{shortFrom, `{"token": "sandbox-token-load-0001", "ring_seconds": "0.3", "talk_seconds": "1.2"}`, "COMPLETED", 2},
	{busyFrom, `{"token": "sandbox-token-load-0002", "ring_seconds": "0.5", "outcome": "busy"}`, "BUSY", 0},
	{midFrom, `{"token": "sandbox-token-load-0003", "ring_seconds": "0.1", "talk_seconds": "3"}`, "COMPLETED", 3},
	{longFrom, fmt.Sprintf(`{"token": "sandbox-token-load-0004", "ring_seconds": "0.1", "talk_seconds": "%d"}`, longTalk/time.Second), "COMPLETED", int(longTalk / time.Second)},
}

// longTalk is how long the calls from longFrom talk. TestRedisStoppedMidLoad needs them in
// progress until its burst after the outage is over; before the burst come 4 s of load, 3 s of
// outage, the pause (up to loadRequestTimeout), Redis's start, waitReady (up to 20 s) and the
// wait for the other calls to end (up to 10 s): about 12 s on an idle machine, and a minute
// leaves a busy one over 45 s of slack. The test checks that the burst still has
// loadRequestTimeout of it left, so a machine slower than that fails with that message instead
// of a wrong count. A call of exactly a minute is charged one minute.
const longTalk = 60 * time.Second

// loadRig is the load account on replicas sharing one stack.
type loadRig struct {
	st      stack
	servers []*server
	clients []clientT // one per replica, each request bounded by loadRequestTimeout
}

// loadRequestTimeout bounds every originateCall of the load: a request that hangs fails the test
// as an unexpected error instead of stalling it.
const loadRequestTimeout = 10 * time.Second

// newLoadRig starts replicas servers on st with the sandbox on and the sweeper every second
// (extra adds to their environment), and gives the load account its sandbox providers and
// numbers and concurrentMax as its only cap.
func newLoadRig(t *testing.T, st stack, replicas, concurrentMax int, extra map[string]string) *loadRig {
	t.Helper()
	env := map[string]string{"SWITCHBOARD_SANDBOX": "true", "SWITCHBOARD_SWEEP_INTERVAL": "1s"}
	for k, v := range extra {
		env[k] = v
	}
	r := &loadRig{st: st}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 64
	t.Cleanup(transport.CloseIdleConnections)
	for range replicas {
		srv := st.start(t, env)
		r.servers = append(r.servers, srv)
		r.clients = append(r.clients, graphql.NewClient(srv.URL+"/graphql", &http.Client{
			Timeout:   loadRequestTimeout,
			Transport: bearer{token: token(t, loadAccount), next: transport},
		}))
	}
	c := r.clients[0]
	for _, n := range loadNumbers {
		res, err := client.CreateProvider(ctx, c, client.CreateProviderInput{Carrier: "sandbox", Label: "sandbox " + n.from, Credentials: json.RawMessage(n.creds)})
		must(t, err)
		createNumber(t, c, res.CreateProvider.Id, n.from, nil)
	}
	must(t, rawMutation(c, fmt.Sprintf(`mutation { updateCallLimits(input: {concurrentMax: %d, callsPerMinute: null, dailyCallsMax: null, dailyMinutesMax: null}) { concurrentMax } }`, concurrentMax)))
	return r
}

// attempt is one originateCall.
type attempt struct {
	sent, done time.Time
	from, id   string // id is set when the call was placed
	err        error
}

// code is the attempt's extensions.code: "" when it succeeded, "(none)" for an error that is not
// a GraphQL error (a timeout, a dropped connection).
func (a attempt) code() string {
	if a.err == nil {
		return ""
	}
	list := gqlErrors(a.err)
	if len(list) == 0 {
		return "(none)"
	}
	return fmt.Sprint(list[0].Extensions["code"])
}

func (a attempt) String() string {
	outcome := "placed " + a.id
	if a.err != nil {
		outcome = describe(a.err)
	}
	return fmt.Sprintf("call from %s sent at %s: %s", a.from, a.sent.Format("15:04:05.000"), outcome)
}

// originate places one call from from through the replica i picks.
func (r *loadRig) originate(i int, from, to string) attempt {
	a := attempt{sent: time.Now(), from: from}
	res, err := client.OriginateCall(context.Background(), r.clients[i%len(r.clients)], client.OriginateCallInput{From: from, To: to})
	a.done, a.err = time.Now(), err
	if err == nil {
		a.id = res.OriginateCall.Id
	}
	return a
}

// load is a steady load running in the background.
type load struct {
	// gate is read-held by each request: pause takes it, which waits for the requests under way
	// and holds the next ones back until resume.
	gate     sync.RWMutex
	paused   bool // by the test goroutine, which alone calls pause, resume and stop
	cancel   context.CancelFunc
	done     chan struct{}
	attempts []attempt
}

// startLoad places calls from workers goroutines, each one call per period (the first at once, all
// workers together, then spread evenly over the period), alternating between the replicas, until
// stop or ctx ends. Every fourth call of a worker is from busyFrom, the others from shortFrom.
func (r *loadRig) startLoad(ctx context.Context, workers int, period time.Duration) *load {
	ctx, cancel := context.WithCancel(ctx)
	l := &load{cancel: cancel, done: make(chan struct{})}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var tick *time.Ticker
			for i := 0; ; i++ {
				from := shortFrom
				if i%4 == 3 {
					from = busyFrom
				}
				l.gate.RLock()
				a := r.originate(w+i, from, fmt.Sprintf("+1415557%02d%02d", w, i%100))
				l.gate.RUnlock()
				mu.Lock()
				l.attempts = append(l.attempts, a)
				mu.Unlock()
				if tick == nil { // after the first call, all together, spread over the period
					select {
					case <-ctx.Done():
						return
					case <-time.After(period + time.Duration(w)*period/time.Duration(workers)):
					}
					tick = time.NewTicker(period)
					defer tick.Stop()
					continue
				}
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		})
	}
	go func() {
		wg.Wait()
		close(l.done)
	}()
	return l
}

// pause waits for the requests under way and holds back the next ones until resume.
func (l *load) pause() { l.gate.Lock(); l.paused = true }

// resume lets a paused load go on.
func (l *load) resume() {
	if l.paused {
		l.paused = false
		l.gate.Unlock()
	}
}

// stop ends the load (resuming it if paused), waits for its last requests and returns every
// attempt.
func (l *load) stop() []attempt {
	l.cancel()
	l.resume()
	<-l.done
	return l.attempts
}

// waitReady polls every replica's /readyz, for at most within, until each answers 200 (its
// database and Redis answer).
func (r *loadRig) waitReady(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, srv := range r.servers {
		for {
			res, err := http.Get(srv.URL + "/readyz")
			if err == nil {
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s/readyz: not ready within %s (%v)", srv.URL, within, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// burst places n calls from from at once and returns the attempts.
func (r *loadRig) burst(from string, n int) []attempt {
	out := make([]attempt, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { out[i] = r.originate(i, from, fmt.Sprintf("+14155578%03d", i)) })
	}
	wg.Wait()
	return out
}

// loadCall is a call row as the load tests check it.
type loadCall struct {
	id, from, status, dispatch string
	providerCallID, failure    *string
	created                    time.Time
	answered, ended            *time.Time
	duration                   int
	settled                    bool
}

// calls reads the load account's calls from Postgres.
func (r *loadRig) calls(t *testing.T) map[string]loadCall {
	t.Helper()
	rows, err := r.st.db(t).Query(ctx, `SELECT id, from_e164, status, dispatch, provider_call_id, failure_reason,
		created_at, answered_at, ended_at, duration_seconds, caps_settled FROM calls WHERE account_id = $1`, loadAccount)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]loadCall{}
	for rows.Next() {
		var c loadCall
		if err := rows.Scan(&c.id, &c.from, &c.status, &c.dispatch, &c.providerCallID, &c.failure,
			&c.created, &c.answered, &c.ended, &c.duration, &c.settled); err != nil {
			t.Fatal(err)
		}
		out[c.id] = c
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// unfinished lists the ids of the load account's calls that have no final status, sorted.
func (r *loadRig) unfinished(t *testing.T) []string {
	t.Helper()
	var ids []string
	for id, c := range r.calls(t) {
		if c.ended == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// waitAtRest polls Postgres, for at most within, until every call of the load account has a
// final status and is settled in the caps, and returns them.
func (r *loadRig) waitAtRest(t *testing.T, within time.Duration) map[string]loadCall {
	t.Helper()
	pool := r.st.db(t)
	deadline := time.Now().Add(within)
	for {
		var open int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM calls WHERE account_id = $1
			AND (status NOT IN ('COMPLETED', 'BUSY', 'NO_ANSWER', 'FAILED', 'CANCELED') OR NOT caps_settled)`, loadAccount).Scan(&open)
		if err == nil && open == 0 {
			return r.calls(t)
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, %d calls are still unfinished or unsettled (last error %v)", within, open, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// tally sorts attempts: the placed call ids, the CAP_EXCEEDED refusals by dimension, how many
// failed with one of the allowed codes, and every other outcome.
func tally(attempts []attempt, allowed ...string) (placed []string, refused map[string]int, allowedErrs int, other []attempt) {
	refused = map[string]int{}
	for _, a := range attempts {
		switch code := a.code(); {
		case code == "":
			placed = append(placed, a.id)
		case code == "CAP_EXCEEDED":
			refused[fmt.Sprint(gqlErrors(a.err)[0].Extensions["dimension"])]++
		case slices.Contains(allowed, code):
			allowedErrs++
		default:
			other = append(other, a)
		}
	}
	return placed, refused, allowedErrs, other
}

// maxOverlap is the most calls (not refused by the carrier) under way at once according to their
// rows, each from created_at to ended_at (or now). A call's cap slot is taken before its row is
// written and freed after its end is recorded, so this never exceeds concurrentMax.
func maxOverlap(calls map[string]loadCall) int {
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	for _, c := range calls {
		if c.dispatch == "refused" {
			continue
		}
		end := time.Now()
		if c.ended != nil {
			end = *c.ended
		}
		edges = append(edges, edge{c.created, 1}, edge{end, -1})
	}
	slices.SortFunc(edges, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta // an end at the same instant as a start comes first
	})
	n, most := 0, 0
	for _, e := range edges {
		n += e.delta
		most = max(most, n)
	}
	return most
}

// sweptReasons start the failure reasons of calls the sweeper failed because their carrier never
// sent a final status (see calls/sweeper.go).
var sweptReasons = []string{"no final status from the carrier within", "the carrier never confirmed the call"}

// notPlacedReason starts the failure reason of a call recorded as not placed (calls.Service.refused).
const notPlacedReason = "not placed"

// leniency says which rows checkPlaced accepts besides the outcome their caller ID simulates.
type leniency struct {
	// swept accepts calls the sweeper failed for want of a final callback (one the sandbox gave
	// up on after about 2 s).
	swept bool
	// abandoned accepts rows of calls whose originateCall failed although their insert committed
	// (its reply was lost): calls.Service.abandon records them as not placed (FAILED, dispatch
	// refused, settled, a "not placed" reason) and they are no placed call.
	abandoned bool
}

// placedTally is what checkPlaced found.
type placedTally struct {
	minutes   int // the minutes the calls must have been charged
	swept     int // calls the sweeper failed
	abandoned int // rows of calls recorded as not placed, none of them a placed call
}

// checkPlaced fails t unless the placed calls are exactly the rows (but for the abandoned ones
// that accept allows) and every row has the outcome its caller ID simulates — or was failed by the
// sweeper for want of a final callback, if accept allows it. The minutes it returns are one per
// answered call (none lasts over a minute), swept calls that were answered included.
func checkPlaced(t *testing.T, placed []string, calls map[string]loadCall, accept leniency) placedTally {
	t.Helper()
	var n placedTally
	for _, id := range placed {
		if _, ok := calls[id]; !ok {
			t.Errorf("placed call %s has no row", id)
		}
	}
	for _, c := range calls {
		i := slices.IndexFunc(loadNumbers, func(n loadNumber) bool { return n.from == c.from })
		if i < 0 {
			t.Errorf("call %s is from %s, which the load does not call from", c.id, c.from)
			continue
		}
		want := loadNumbers[i]
		if accept.abandoned && c.dispatch == "refused" && !slices.Contains(placed, c.id) {
			n.abandoned++
			if c.status != "FAILED" || c.failure == nil || !strings.HasPrefix(*c.failure, notPlacedReason) ||
				!c.settled || c.ended == nil || c.answered != nil || c.duration != 0 || c.providerCallID != nil {
				t.Errorf("call %s from %s, not placed: %s after %d s (answered %v, carrier id %v, failure %v, settled %v); want FAILED after 0 s, never answered, without a carrier id, failure %q…, settled",
					c.id, c.from, c.status, c.duration, c.answered, c.providerCallID, c.failure, c.settled, notPlacedReason)
			}
			continue
		}
		if accept.swept && c.status == "FAILED" && c.failure != nil &&
			slices.ContainsFunc(sweptReasons, func(r string) bool { return strings.HasPrefix(*c.failure, r) }) {
			n.swept++
			if c.answered != nil {
				n.minutes++ // charged the talk time until the sweeper gave up, under a minute
			}
			continue
		}
		if c.status != want.status || c.duration != want.talk || (c.answered != nil) != (want.talk > 0) || c.providerCallID == nil || !c.settled {
			t.Errorf("call %s from %s: %s after %d s (answered %v, carrier id %v, failure %v, settled %v); want %s after %d s, settled",
				c.id, c.from, c.status, c.duration, c.answered, c.providerCallID, c.failure, c.settled, want.status, want.talk)
		}
		if want.talk > 0 {
			n.minutes++
		}
	}
	if len(placed) != len(calls)-n.abandoned {
		t.Errorf("%d calls placed, but %d rows in Postgres (%d of them of calls not placed)", len(placed), len(calls), n.abandoned)
	}
	return n
}

// elapsed logs how long the test has run.
func elapsed(t *testing.T, start time.Time, what string) {
	t.Helper()
	t.Logf("%6.1fs %s", time.Since(start).Seconds(), what)
}

// Two replicas place calls at a steady rate for 12 s against a concurrent cap of 10 that the
// load exceeds; once every call has ended, only concurrent refusals happened, every placed call
// is a row with the outcome its caller ID simulates, no more than 10 were under way at once, and
// the books balance: each answered call charged its one minute, nothing is left in progress.
// On a starved machine the sandbox may give up on a final callback (after about 2 s of retries):
// the sweeper fails such a call after SWITCHBOARD_MAX_CALL_DURATION (shortened to 15 s) and it is
// accepted, but at least 80% of the placed calls must end as simulated.
func TestSteadyLoadBalancesTheBooks(t *testing.T) {
	const concurrentMax = 10
	start := time.Now()
	r := newLoadRig(t, newStack(t), 2, concurrentMax, map[string]string{"SWITCHBOARD_MAX_CALL_DURATION": "15s"})
	elapsed(t, start, "two replicas up")

	l := r.startLoad(ctx, 12, 1200*time.Millisecond)
	time.Sleep(12 * time.Second) // the load's duration
	attempts := l.stop()
	placed, refused, _, other := tally(attempts)
	elapsed(t, start, fmt.Sprintf("load stopped: %d attempts, %d placed, refused %v", len(attempts), len(placed), refused))
	for _, a := range other {
		t.Errorf("unexpected error: %s", a)
	}
	if len(placed) == 0 || refused["concurrent"] == 0 || len(refused) != 1 {
		t.Fatalf("%d placed, refusals %v; want a mix of placed calls and concurrent refusals only", len(placed), refused)
	}

	calls := r.waitAtRest(t, 45*time.Second) // a call swept: 15 s after it was placed, plus a sweep
	elapsed(t, start, "every call ended and settled")
	n := checkPlaced(t, placed, calls, leniency{swept: true})
	t.Logf("%d of %d calls lost their final callback and were failed by the sweeper", n.swept, len(placed))
	if n.swept*5 > len(placed) {
		t.Errorf("the sweeper failed %d of %d calls; want at least 80%% of them to end as simulated", n.swept, len(placed))
	}
	if most := maxOverlap(calls); most > concurrentMax {
		t.Errorf("%d calls were under way at once, over the concurrent cap of %d", most, concurrentMax)
	}
	u := checkBooks(t, r.st, loadAccount)
	if u.Concurrent != 0 || u.CallsToday != len(placed) || u.MinutesToday != n.minutes {
		t.Fatalf("usage %+v; want nothing in progress, %d calls today and %d minutes (one per answered call)", u, len(placed), n.minutes)
	}
}

// The load runs against replicas whose Redis is their own container, and Redis is stopped in
// the middle of it. While it is down every originateCall fails with UNAVAILABLE and nothing is
// dialled; calls under way end in Postgres and are settled by the sweeper later. Redis comes
// back empty and the counters are rebuilt from Postgres before anything is admitted: with three
// long calls (longTalk) still in progress, a burst of 12 gets exactly the 7 free slots of the cap
// of 10.
// The load goes on, no more than 10 calls are ever under way at once, and once every call has
// ended the books balance.
func TestRedisStoppedMidLoad(t *testing.T) {
	const concurrentMax, longCalls = 10, 3
	start := time.Now()
	redisSrv := testenv.StartRedis(t)
	st := newStack(t)
	st.RedisURL = redisSrv.URL
	r := newLoadRig(t, st, 2, concurrentMax, nil)
	var long []string
	var longEnd time.Time // the long calls talk until after it: it is longTalk after the first was sent
	for _, a := range r.burst(longFrom, longCalls) {
		must(t, a.err)
		long = append(long, a.id)
		if longEnd.IsZero() || a.sent.Add(longTalk).Before(longEnd) {
			longEnd = a.sent.Add(longTalk)
		}
	}
	slices.Sort(long)
	elapsed(t, start, "two replicas up, three long calls placed")

	l := r.startLoad(ctx, 12, 1200*time.Millisecond)
	defer l.stop()
	time.Sleep(4 * time.Second) // load before the outage
	redisSrv.Stop(t)
	downFrom := time.Now()
	elapsed(t, start, "Redis stopped")
	time.Sleep(3 * time.Second) // load during the outage
	downUntil := time.Now()

	// Redis comes back with the load held, so that the burst alone meets the rebuilt counters.
	l.pause()
	redisSrv.Start(t)
	upAgain := time.Now()
	elapsed(t, start, "Redis started again, empty")
	// A Redis client that failed to dial for a while dials again only once a second: wait until
	// every replica reaches Redis again.
	r.waitReady(t, 20*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		open := r.unfinished(t)
		if ended := slices.DeleteFunc(slices.Clone(long), func(id string) bool { return slices.Contains(open, id) }); len(ended) != 0 {
			t.Fatalf("long calls %v ended %s after they were placed, before the burst that needs them in progress: the machine is too slow for this test (they talk for %s)",
				ended, time.Since(longEnd.Add(-longTalk)).Round(time.Second), longTalk)
		}
		if len(open) == len(long) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("calls in progress %v; want only the long calls %v before the burst", open, long)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Every request of the burst ends within loadRequestTimeout: the long calls outlive it if they
	// have that much talk left.
	if left := time.Until(longEnd); left < loadRequestTimeout {
		t.Fatalf("the long calls may end %s from now, within the burst that needs them in progress (up to %s): the machine is too slow for this test (%s passed since they were placed; they talk for %s)",
			left.Round(time.Millisecond), loadRequestTimeout, time.Since(longEnd.Add(-longTalk)).Round(time.Second), longTalk)
	}
	burst := r.burst(midFrom, 12)
	if open := r.unfinished(t); slices.ContainsFunc(long, func(id string) bool { return !slices.Contains(open, id) }) {
		t.Fatalf("calls in progress right after the burst %v; want the long calls %v among them (they talk until %s from now)",
			open, long, time.Until(longEnd).Round(time.Millisecond))
	}
	burstPlaced, burstRefused, _, other := tally(burst)
	if len(burstPlaced) != concurrentMax-longCalls || burstRefused["concurrent"] != 12-(concurrentMax-longCalls) || len(other) != 0 {
		t.Fatalf("burst after the restart: %d placed, refused %v, other %v; want %d placed and the rest refused on concurrent (the %d long calls still hold their slots)",
			len(burstPlaced), burstRefused, other, concurrentMax-longCalls, longCalls)
	}
	checkBooks(t, r.st, loadAccount) // mid-load: the calls that ended while Redis was down are settled by now
	l.resume()
	elapsed(t, start, "burst done, books balanced mid-load; load resumed")
	time.Sleep(6 * time.Second) // load after the outage
	attempts := l.stop()

	placed := checkOutage(t, start, attempts, "Redis", downFrom, downUntil)
	after := 0
	for _, a := range attempts {
		if a.err == nil && a.sent.After(upAgain) {
			after++
		}
	}
	if after == 0 {
		t.Fatal("the load placed no call after Redis came back")
	}

	calls := r.waitAtRest(t, max(time.Until(longEnd), 0)+30*time.Second) // the long calls end last
	elapsed(t, start, "every call ended and settled")
	endedWhileDown := 0
	for _, c := range calls {
		if c.ended.After(downFrom) && c.ended.Before(downUntil) {
			endedWhileDown++
		}
	}
	if endedWhileDown == 0 {
		t.Error("no call ended while Redis was down: settling them afterwards went untested")
	}
	placed = slices.Concat(long, burstPlaced, placed)
	minutes := checkPlaced(t, placed, calls, leniency{}).minutes
	if most := maxOverlap(calls); most > concurrentMax {
		t.Errorf("%d calls were under way at once, over the concurrent cap of %d", most, concurrentMax)
	}
	u := checkBooks(t, r.st, loadAccount)
	if u.Concurrent != 0 || u.CallsToday != len(placed) || u.MinutesToday != minutes {
		t.Fatalf("usage %+v; want nothing in progress, %d calls today and %d minutes (one per answered call; %d ended while Redis was down)",
			u, len(placed), minutes, endedWhileDown)
	}
}

// The load runs against replicas whose Postgres is their own container, and Postgres is stopped
// and started again in the middle of it. While it is down every originateCall fails with
// UNAVAILABLE; the replicas serve again by themselves once it is back. Calls whose final status
// callback was lost in the outage (the sandbox gives up after about 2 s) are failed by the
// sweeper (SWITCHBOARD_MAX_CALL_DURATION and SWITCHBOARD_UNCONFIRMED_TIMEOUT shortened). An insert
// that committed as Postgres went down but whose reply was lost failed the request with
// UNAVAILABLE; its row is recorded as not placed (calls.Service.abandon) and is no placed call.
// Then every row is consistent, each placed call has its row, and the books balance.
func TestPostgresRestartedMidLoad(t *testing.T) {
	const concurrentMax = 30 // calls stuck without their final callback hold slots until swept
	start := time.Now()
	pg := testenv.StartPostgres(t)
	st := stack{DatabaseURL: pg.URL, RedisURL: testenv.RedisURL(t)}
	r := newLoadRig(t, st, 2, concurrentMax, map[string]string{
		"SWITCHBOARD_MAX_CALL_DURATION":   "20s",
		"SWITCHBOARD_UNCONFIRMED_TIMEOUT": "12s",
	})
	elapsed(t, start, "two replicas up on their own Postgres")

	l := r.startLoad(ctx, 12, 1200*time.Millisecond)
	defer l.stop()
	time.Sleep(4 * time.Second) // load before the outage
	pg.Stop(t)
	downFrom := time.Now()
	elapsed(t, start, "Postgres stopped")
	time.Sleep(3 * time.Second) // load during the outage
	downUntil := time.Now()
	pg.Start(t)
	upAgain := time.Now()
	elapsed(t, start, "Postgres started again")
	time.Sleep(6 * time.Second) // load after the outage
	attempts := l.stop()

	placed := checkOutage(t, start, attempts, "Postgres", downFrom, downUntil)
	var resumed time.Duration
	for _, a := range attempts {
		if a.err == nil && a.sent.After(upAgain) && (resumed == 0 || a.done.Sub(upAgain) < resumed) {
			resumed = a.done.Sub(upAgain)
		}
	}
	if resumed == 0 {
		t.Fatal("no call was placed after Postgres came back: the replicas did not recover by themselves")
	}
	elapsed(t, start, fmt.Sprintf("the first call after the restart was placed %s after Postgres was back", resumed.Round(time.Millisecond)))

	calls := r.waitAtRest(t, 60*time.Second)
	elapsed(t, start, "every call ended and settled")
	n := checkPlaced(t, placed, calls, leniency{swept: true, abandoned: true})
	t.Logf("%d calls lost their final callback in the outage and were failed by the sweeper; %d rows are of calls whose request failed after their insert committed, recorded as not placed",
		n.swept, n.abandoned)
	if _, _, unavailable, _ := tally(attempts, "UNAVAILABLE"); n.abandoned > unavailable {
		t.Errorf("%d rows of calls not placed, but only %d requests failed with UNAVAILABLE", n.abandoned, unavailable)
	}
	u := checkBooks(t, r.st, loadAccount)
	if u.Concurrent != 0 || u.CallsToday != len(placed) || u.MinutesToday != n.minutes {
		t.Fatalf("usage %+v; want nothing in progress, %d calls today and %d minutes (one per answered call)", u, len(placed), n.minutes)
	}
}

// checkOutage checks the attempts of a load during which a dependency was down from downFrom to
// downUntil: each sent and answered in that window failed with UNAVAILABLE (there was one), the
// others were placed, UNAVAILABLE around the edges, or refused by the concurrent cap. It returns
// the ids of the calls placed.
func checkOutage(t *testing.T, start time.Time, attempts []attempt, what string, downFrom, downUntil time.Time) []string {
	t.Helper()
	var down int
	for _, a := range attempts {
		if a.sent.Before(downFrom) || a.done.After(downUntil) {
			continue // sent before it was surely down, or answered after it was started again
		}
		down++
		if a.code() != "UNAVAILABLE" {
			t.Errorf("while %s was down: %s; want UNAVAILABLE", what, a)
		}
	}
	placed, refused, unavailable, other := tally(attempts, "UNAVAILABLE")
	elapsed(t, start, fmt.Sprintf("load stopped: %d attempts, %d placed, refused %v, %d UNAVAILABLE (%d sent and answered while %s was surely down)",
		len(attempts), len(placed), refused, unavailable, down, what))
	for _, a := range other {
		t.Errorf("unexpected error: %s", a)
	}
	if down == 0 {
		t.Fatalf("no call was attempted while %s was down", what)
	}
	if len(refused) > 1 || (len(refused) == 1 && refused["concurrent"] == 0) {
		t.Errorf("refusals %v; want concurrent ones only", refused)
	}
	return placed
}
