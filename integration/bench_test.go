package integration

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Khan/genqlient/graphql"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/switchboard-dev/switchboard/caps"
	"github.com/switchboard-dev/switchboard/ids"
	"github.com/switchboard-dev/switchboard/integration/client"
)

// The benchmarks of this file measure Switchboard next to its physical floor: the round trips
// to Postgres and Redis that the same work cannot avoid, made directly with pgx and go-redis
// against the same containers. Each prints a table of every result, its floor and the ratio,
// with the server's Go heap and goroutines before and after. docs/benchmarks.md has a run.
//
//	go test -run '^$' -bench . -benchtime 2000x ./integration/

// benchClients are the concurrencies every comparison runs at.
var benchClients = []int{1, 16, 64}

// benchLimits are caps on all four dimensions that never refuse, so every check runs.
var benchLimits = caps.Limits{ConcurrentMax: ptr(1 << 30), CallsPerMinute: ptr(1 << 30), DailyCallsMax: ptr(1 << 30), DailyMinutesMax: ptr(1 << 30)}

// BenchmarkOriginate compares originateCall through the whole stack (HTTP, GraphQL, auth, Ent
// on Postgres, the caps script on Redis, decrypting the credentials and a fake Twilio that
// answers at once) with its floor: the caller-ID lookup, the one caps script call and the call
// insert.
func BenchmarkOriginate(b *testing.B) {
	cs := newCallStack(b)
	setBenchLimits(b, cs.c)
	floor := newOriginateFloor(b, cs.stack)
	var next atomic.Int64
	to := func() string { return fmt.Sprintf("+1415%07d", next.Add(1)) }

	originate := func() error {
		_, err := client.OriginateCall(ctx, cs.c, client.OriginateCallInput{From: cs.from, To: to()})
		return err
	}
	r := newBenchReport(b, "originateCall", originate)
	for _, clients := range benchClients {
		r.compare(b, clients, func() error { return floor.originate(to()) }, originate)
	}
	r.print(b)
	if got, want := cs.carrier.calls.Load(), r.stackOps.Load(); got != want {
		b.Fatalf("%d originates through the stack, %d carrier requests", want, got)
	}
}

// BenchmarkListNumbers compares a page of 100 numbers with their providers through GraphQL with
// the one SQL query that fetches the same rows.
func BenchmarkListNumbers(b *testing.B) {
	st := newStack(b)
	srv := st.start(b)
	c := srv.client(b, "acct_list")
	providers := []string{twilioProvider(b, c), twilioProvider(b, c)}
	for i := range 100 {
		createNumber(b, c, providers[i%2], fmt.Sprintf("+1415555%04d", i), nil)
	}
	floor := newListFloor(b, st)

	list := func() error {
		res, err := client.ListNumbersWithProviders(ctx, c, 100)
		if err == nil && len(res.PhoneNumbers.Edges) != 100 {
			err = fmt.Errorf("listed %d numbers, want 100", len(res.PhoneNumbers.Edges))
		}
		return err
	}
	r := newBenchReport(b, "list 100 numbers", list)
	for _, clients := range benchClients {
		r.compare(b, clients, func() error { return floor.list(100) }, list)
	}
	r.print(b)
}

func setBenchLimits(b *testing.B, c graphql.Client) {
	b.Helper()
	l := benchLimits
	_, err := client.UpdateCallLimits(ctx, c, l.ConcurrentMax, l.CallsPerMinute, l.DailyCallsMax, l.DailyMinutesMax)
	must(b, err)
}

// originateFloor is the least originateCall can do: one query that finds the caller ID with its
// provider, the reserve script, and the insert of the call row.
type originateFloor struct {
	db    *pgxpool.Pool
	caps  *caps.Store
	owner string // the account that owns the caller ID
}

const floorAccount = "acct_floor"

func newOriginateFloor(b *testing.B, st stack) *originateFloor {
	b.Helper()
	db, err := pgxpool.New(ctx, st.DatabaseURL)
	must(b, err)
	b.Cleanup(db.Close)
	opts, err := redis.ParseURL(st.RedisURL)
	must(b, err)
	rdb := redis.NewClient(opts)
	b.Cleanup(func() { rdb.Close() })
	f := &originateFloor{db: db, caps: caps.New(rdb, caps.Options{})}
	must(b, db.QueryRow(ctx, `SELECT account_id FROM phone_numbers WHERE e164 = $1`, callerID).Scan(&f.owner))
	_, err = f.caps.Rebuild(ctx, floorAccount, caps.Snapshot{})
	must(b, err)
	return f
}

func (f *originateFloor) originate(to string) error {
	var numberID, providerID, carrier string
	var agent *string
	var outbound bool
	err := f.db.QueryRow(ctx, `SELECT n.id, n.provider_id, n.agent_id, n.outbound_enabled, p.carrier, p.sealed_credentials
		FROM phone_numbers n JOIN providers p ON p.id = n.provider_id
		WHERE n.account_id = $1 AND n.e164 = $2`, f.owner, callerID).Scan(&numberID, &providerID, &agent, &outbound, &carrier, new([]byte))
	if err != nil {
		return err
	}
	id := ids.Call.New()
	if err := f.caps.Reserve(ctx, floorAccount, id, benchLimits); err != nil {
		return err
	}
	now := time.Now().UTC()
	_, err = f.db.Exec(ctx, `INSERT INTO calls (id, account_id, created_at, updated_at, from_e164, to_e164, agent_id, carrier,
		session_id, status, duration_seconds, dispatch, caps_settled, from_number_id, provider_id)
		VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, 'QUEUED', 0, 'pending', false, $9, $10)`,
		id, floorAccount, now, callerID, to, agent, carrier, ids.Session.New(), numberID, providerID)
	return err
}

// listFloor is the one query behind a page of numbers with their providers.
type listFloor struct{ db *pgxpool.Pool }

func newListFloor(b *testing.B, st stack) *listFloor {
	db, err := pgxpool.New(ctx, st.DatabaseURL)
	must(b, err)
	b.Cleanup(db.Close)
	return &listFloor{db: db}
}

func (f *listFloor) list(n int) error {
	rows, err := f.db.Query(ctx, `SELECT n.id, n.e164, n.agent_id, n.inbound_enabled, n.outbound_enabled, p.id, p.carrier, p.label
		FROM phone_numbers n JOIN providers p ON p.id = n.provider_id
		WHERE n.account_id = $1 ORDER BY n.id LIMIT $2`, "acct_list", n)
	if err != nil {
		return err
	}
	type row struct {
		id, e164                   string
		agent                      *string
		inbound, outbound          bool
		providerID, carrier, label string
	}
	var got []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.e164, &r.agent, &r.inbound, &r.outbound, &r.providerID, &r.carrier, &r.label); err != nil {
			return err
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(got) != n {
		return fmt.Errorf("listed %d numbers, want %d", len(got), n)
	}
	return nil
}

// latencies is one measured run: how long each operation took and the run's wall time.
type latencies struct {
	each []time.Duration
	wall time.Duration
}

// run performs b.N operations from clients concurrent goroutines and measures each.
func run(b *testing.B, clients int, op func() error) latencies {
	b.Helper()
	out := latencies{each: make([]time.Duration, b.N)}
	var next atomic.Int64
	var failed atomic.Int64
	var first sync.Once
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
				t0 := time.Now()
				err := op()
				out.each[i] = time.Since(t0)
				if err != nil {
					failed.Add(1)
					first.Do(func() { b.Errorf("%s", describe(err)) })
				}
			}
		})
	}
	wg.Wait()
	out.wall = time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d operations failed", n, b.N)
	}
	slices.Sort(out.each)
	b.ReportMetric(float64(out.p(50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(out.p(99).Microseconds()), "p99-µs")
	b.ReportMetric(out.throughput(), "ops/s")
	return out
}

// p is the q-th percentile of a sorted run.
func (l latencies) p(q int) time.Duration {
	if len(l.each) == 0 {
		return 0
	}
	return l.each[(len(l.each)-1)*q/100]
}

func (l latencies) throughput() float64 { return float64(len(l.each)) / l.wall.Seconds() }

// benchReport collects the comparisons of one benchmark and prints them as a table.
type benchReport struct {
	name     string
	rows     []string
	stackOps atomic.Int64
	before   memory
}

// memory is what the process holds after a full collection.
type memory struct {
	heap       uint64
	goroutines int
}

func measureMemory() memory {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return memory{heap: m.HeapAlloc, goroutines: runtime.NumGoroutine()}
}

// warmOps is how many operations warm the server up before its memory is first measured: its
// pools, caches and idle connections fill up then, so what grows after it is what a run keeps.
const warmOps = 500

// newBenchReport warms the server up with the stack operation from as many clients as the
// largest comparison, then measures its memory.
func newBenchReport(b *testing.B, name string, stack func() error) *benchReport {
	b.Helper()
	r := &benchReport{name: name}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range slices.Max(benchClients) {
		wg.Go(func() {
			for next.Add(1) <= warmOps {
				if err := stack(); err != nil {
					b.Errorf("warming up: %s", describe(err))
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	r.stackOps.Add(warmOps)
	r.before = measureMemory()
	return r
}

// compare runs the floor and then the stack at one concurrency and keeps the largest run of
// each (the benchmark framework runs each several times while it sizes b.N).
func (r *benchReport) compare(b *testing.B, clients int, floor, stack func() error) {
	var f, s latencies
	b.Run(fmt.Sprintf("floor/clients=%d", clients), func(b *testing.B) { f = run(b, clients, floor) })
	b.Run(fmt.Sprintf("stack/clients=%d", clients), func(b *testing.B) {
		s = run(b, clients, stack)
		r.stackOps.Add(int64(b.N))
	})
	if len(f.each) == 0 || len(s.each) == 0 {
		return // filtered out by -bench
	}
	ratio := func(a, b time.Duration) string { return fmt.Sprintf("%.2f×", float64(a)/float64(b)) }
	r.rows = append(r.rows, fmt.Sprintf("| %d | %d | %s | %s | %s | %s | %s | %s | %.0f | %.0f |",
		clients, len(s.each),
		us(f.p(50)), us(s.p(50)), ratio(s.p(50), f.p(50)),
		us(f.p(99)), us(s.p(99)), ratio(s.p(99), f.p(99)),
		f.throughput(), s.throughput()))
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }

// print writes the table: the server runs in this process, so its heap and goroutines are the
// process's after a full collection, after the warm-up and after the last run.
func (r *benchReport) print(b *testing.B) {
	after := measureMemory()
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%s next to its floor\n\n", r.name)
	sb.WriteString("| clients | ops | floor p50 | stack p50 | p50 ratio | floor p99 | stack p99 | p99 ratio | floor ops/s | stack ops/s |\n")
	sb.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, row := range r.rows {
		sb.WriteString(row + "\n")
	}
	fmt.Fprintf(&sb, "\nheap %.1f MiB → %.1f MiB, goroutines %d → %d\n",
		float64(r.before.heap)/(1<<20), float64(after.heap)/(1<<20), r.before.goroutines, after.goroutines)
	fmt.Print(sb.String()) // on stdout: b.Log of a benchmark with sub-benchmarks is not shown
}
