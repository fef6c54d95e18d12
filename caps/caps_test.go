package caps

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/switchboard-dev/switchboard/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// newRedis returns a client on a fresh, empty logical database of a real Redis (a
// container shared by this test binary).
func newRedis(t testing.TB) *redis.Client { return testenv.Redis(t) }

func newMiniredis(t testing.TB) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// clock is a fake Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

const acct = "acct_01JTEST"

var noon = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// fixture is a Store on its own Redis database with a fake clock at noon UTC and a
// 2 minute lease; the account acct is ready with empty counters.
type fixture struct {
	*Store
	t     *testing.T
	rdb   redis.UniversalClient
	clock *clock
}

func newStore(t *testing.T, rdb redis.UniversalClient) *fixture {
	t.Helper()
	c := &clock{t: noon}
	f := &fixture{Store: New(rdb, Options{Now: c.Now}), t: t, rdb: rdb, clock: c}
	if ok, err := f.Rebuild(context.Background(), acct, Snapshot{}); err != nil || !ok {
		t.Fatalf("Rebuild on an empty database = %v, %v; want true, nil", ok, err)
	}
	return f
}

// forEachBackend runs fn against a real Redis and against miniredis (the embedded
// default of `go run .`), each on a fresh database.
func forEachBackend(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for _, b := range []struct {
		name string
		open func(testing.TB) *redis.Client
	}{{"redis", newRedis}, {"miniredis", newMiniredis}} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, newStore(t, b.open(t)))
		})
	}
}

func n(v int) *int { return &v }

var ctx = context.Background()

func (f *fixture) reserve(id string, l Limits) error {
	f.t.Helper()
	err := f.Reserve(ctx, acct, id, l)
	var ex *ExceededError
	if err != nil && !errors.As(err, &ex) {
		f.t.Fatalf("Reserve(%s): %v", id, err)
	}
	return err
}

func (f *fixture) admit(id string, l Limits) {
	f.t.Helper()
	if err := f.reserve(id, l); err != nil {
		f.t.Fatalf("Reserve(%s) = %v; want admitted", id, err)
	}
}

func (f *fixture) refuse(id string, l Limits, want ExceededError) {
	f.t.Helper()
	err := f.reserve(id, l)
	var ex *ExceededError
	if !errors.As(err, &ex) || *ex != want {
		f.t.Fatalf("Reserve(%s) = %v; want %+v", id, err, want)
	}
}

func (f *fixture) usage(want Usage) {
	f.t.Helper()
	got, err := f.Usage(ctx, acct)
	if err != nil || got != want {
		f.t.Fatalf("Usage = %+v, %v; want %+v", got, err, want)
	}
}

func (f *fixture) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

// race has 200 goroutines reserve distinct calls at once and counts the outcomes.
func (f *fixture) race(l Limits) (admitted int, refused map[ExceededError]int) {
	f.t.Helper()
	const callers = 200
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, callers)
	)
	for i := range callers {
		wg.Go(func() {
			<-start
			errs[i] = f.Reserve(ctx, acct, fmt.Sprintf("call_%03d", i), l)
		})
	}
	close(start)
	wg.Wait()
	refused = map[ExceededError]int{}
	for _, err := range errs {
		var ex *ExceededError
		switch {
		case err == nil:
			admitted++
		case errors.As(err, &ex):
			refused[*ex]++
		default:
			f.t.Fatalf("Reserve: %v", err)
		}
	}
	return admitted, refused
}

func TestReserveIsExactUnderConcurrency(t *testing.T) {
	untilMidnight := 12 * time.Hour
	for _, c := range []struct {
		limits Limits
		want   ExceededError
		usage  Usage
	}{
		{Limits{ConcurrentMax: n(10)}, ExceededError{Concurrent, 10, time.Second}, Usage{10, 10, 10, 0}},
		{Limits{CallsPerMinute: n(10)}, ExceededError{CallsPerMinute, 10, time.Minute}, Usage{10, 10, 10, 0}},
		{Limits{DailyCallsMax: n(10)}, ExceededError{DailyCalls, 10, untilMidnight}, Usage{10, 10, 10, 0}},
	} {
		t.Run(string(c.want.Dimension), func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, f *fixture) {
				admitted, refused := f.race(c.limits)
				if admitted != 10 || refused[c.want] != 190 || len(refused) != 1 {
					t.Fatalf("admitted %d, refused %v; want 10 admitted, 190 refused with %+v", admitted, refused, c.want)
				}
				f.usage(c.usage)
			})
		})
	}
}

func TestUnlimitedAdmitsAll(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		if admitted, refused := f.race(Limits{}); admitted != 200 {
			t.Fatalf("admitted %d, refused %v; want all 200", admitted, refused)
		}
		f.usage(Usage{200, 200, 200, 0})
	})
}

func TestZeroBlocksEveryReservation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		for _, c := range []struct {
			limits Limits
			dim    Dimension
		}{
			{Limits{ConcurrentMax: n(0)}, Concurrent},
			{Limits{CallsPerMinute: n(0)}, CallsPerMinute},
			{Limits{DailyCallsMax: n(0)}, DailyCalls},
			{Limits{DailyMinutesMax: n(0)}, DailyMinutes},
			{Limits{ConcurrentMax: n(5), DailyMinutesMax: n(-3)}, DailyMinutes}, // negative = 0
		} {
			f.refuse("call_1", c.limits, ExceededError{c.dim, 0, 0})
		}
		f.usage(Usage{})
	})
}

func TestRefusalNamesTheLongestClosedCap(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		one := Limits{ConcurrentMax: n(1), CallsPerMinute: n(1), DailyCallsMax: n(1), DailyMinutesMax: n(100)}
		f.admit("call_1", one)
		// all three call caps are full: the daily one stays closed longest
		f.refuse("call_2", one, ExceededError{DailyCalls, 1, 12 * time.Hour})
		// a kill switch wins over any count
		zero := one
		zero.DailyMinutesMax = n(0)
		f.refuse("call_2", zero, ExceededError{DailyMinutes, 0, 0})
		// concurrent (1 s hint) and per minute (60 s): per minute
		f.refuse("call_2", Limits{ConcurrentMax: n(1), CallsPerMinute: n(1)}, ExceededError{CallsPerMinute, 1, time.Minute})
	})
}

func TestReserveSameCallTwiceCountsOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		one := Limits{ConcurrentMax: n(1), CallsPerMinute: n(1), DailyCallsMax: n(1)}
		f.admit("call_1", one)
		f.admit("call_1", one)
		f.usage(Usage{1, 1, 1, 0})
		f.refuse("call_2", Limits{ConcurrentMax: n(1)}, ExceededError{Concurrent, 1, time.Second})

		// a settled call is not admitted into a slot again
		f.must(f.Settle(ctx, acct, "call_1", 0))
		f.admit("call_1", one)
		f.usage(Usage{0, 1, 1, 0})
	})
}

func TestLeaseExpiresUnlessRenewed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		one := Limits{ConcurrentMax: n(1)}
		full := ExceededError{Concurrent, 1, time.Second}
		f.admit("call_1", one)
		f.clock.Advance(2*time.Minute - time.Millisecond)
		f.refuse("call_2", one, full)
		f.clock.Advance(time.Millisecond)
		f.admit("call_2", one) // call_1 never renewed: its slot freed after the lease
		f.usage(Usage{1, 1, 2, 0})

		f.clock.Advance(time.Minute)
		f.must(f.Renew(ctx, acct, "call_2"))
		f.usage(Usage{1, 0, 2, 0})
		f.clock.Advance(2*time.Minute - time.Millisecond)
		f.refuse("call_3", one, full) // 3 minutes after its reservation call_2 holds on
		f.clock.Advance(time.Millisecond)
		f.admit("call_3", one)

		// a lapsed reservation takes a slot again without being counted twice
		f.clock.Advance(2 * time.Minute)
		f.admit("call_2", one)
		f.usage(Usage{1, 0, 3, 0})
	})
}

// Renew takes the database's word for which calls are in progress: a call whose lease lapsed
// while it was still running gets its slot back, while settled and released calls do not.
func TestRenewRepairsLapsedLeases(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		for _, id := range []string{"call_live", "call_settled", "call_released"} {
			f.admit(id, Limits{})
		}
		f.must(f.Settle(ctx, acct, "call_settled", time.Second))
		f.must(f.Release(ctx, acct, "call_released"))
		f.clock.Advance(3 * time.Minute) // every lease lapsed: no replica renewed them
		f.usage(Usage{0, 0, 2, 1})
		f.must(f.Renew(ctx, acct, "call_live", "call_settled", "call_released"))
		f.usage(Usage{1, 0, 2, 1})
		f.refuse("call_next", Limits{ConcurrentMax: n(1)}, ExceededError{Concurrent, 1, time.Second})
	})
}

// A rebuild that counted an ended call's minutes marks it settled: settling it afterwards (the
// sweeper catching up) charges nothing more.
func TestRebuildTakesOverSettlementOfCountedCalls(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		f.must(f.rdb.FlushDB(ctx).Err()) // Redis lost everything
		snap := Snapshot{Active: []string{"call_live"}, CallsToday: 2, MinutesToday: 3, Settled: []string{"call_ended"}}
		if ok, err := f.Rebuild(ctx, acct, snap); !ok || err != nil {
			t.Fatalf("Rebuild = %v, %v", ok, err)
		}
		f.must(f.Settle(ctx, acct, "call_ended", 3*time.Minute))
		f.usage(Usage{1, 0, 2, 3})
		f.must(f.Settle(ctx, acct, "call_live", 30*time.Second))
		f.usage(Usage{0, 0, 2, 4})
	})
}

func TestSettleChargesMinutesOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		one := Limits{ConcurrentMax: n(1)}
		f.admit("call_1", one)
		for range 3 {
			f.must(f.Settle(ctx, acct, "call_1", 61*time.Second))
		}
		f.usage(Usage{0, 1, 1, 2})
		f.admit("call_2", one)
		// Release after Settle frees nothing more and gives nothing back
		f.must(f.Settle(ctx, acct, "call_2", 0))
		f.must(f.Release(ctx, acct, "call_2"))
		f.usage(Usage{0, 2, 2, 2})
	})
}

func TestChargedMinutes(t *testing.T) {
	for talk, want := range map[time.Duration]int64{
		-time.Second: 0, 0: 0, time.Millisecond: 1, time.Second: 1, time.Minute: 1,
		61 * time.Second: 2, 10 * time.Minute: 10,
	} {
		if got := ChargedMinutes(talk); got != want {
			t.Errorf("ChargedMinutes(%s) = %d; want %d", talk, got, want)
		}
	}
}

func TestDailyMinutesBlockOnceUsed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		l := Limits{DailyMinutesMax: n(3)}
		f.admit("call_1", l)
		f.admit("call_2", l)
		f.must(f.Settle(ctx, acct, "call_1", 90*time.Second))
		f.admit("call_3", l) // 2 of 3 minutes used
		f.must(f.Settle(ctx, acct, "call_2", 30*time.Second))
		f.refuse("call_4", l, ExceededError{DailyMinutes, 3, 12 * time.Hour})
		f.usage(Usage{1, 3, 3, 3})
		f.clock.Advance(12 * time.Hour) // a new UTC day
		f.admit("call_4", l)
		f.usage(Usage{1, 1, 1, 0})
	})
}

func TestReleaseGivesBackOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		one := Limits{ConcurrentMax: n(1), CallsPerMinute: n(1), DailyCallsMax: n(1)}
		f.admit("call_1", one)
		f.admit("call_2", Limits{})
		for range 3 {
			f.must(f.Release(ctx, acct, "call_1"))
		}
		f.must(f.Release(ctx, acct, "call_unknown"))
		f.usage(Usage{1, 1, 1, 0}) // call_2 only: call_1 given back once, not twice
		f.must(f.Release(ctx, acct, "call_2"))
		f.usage(Usage{})
		f.admit("call_3", one)
		f.usage(Usage{1, 1, 1, 0})
		// a released id is a new attempt
		f.must(f.Release(ctx, acct, "call_3"))
		f.admit("call_3", one)
		f.usage(Usage{1, 1, 1, 0})
	})
}

func TestReleaseKeepsAnEarlierDaysCount(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		f.clock.Set(time.Date(2026, 11, 23, 23, 59, 50, 0, time.UTC))
		f.admit("call_1", Limits{})
		f.admit("call_2", Limits{})
		f.clock.Advance(20 * time.Second)
		f.must(f.Release(ctx, acct, "call_1")) // yesterday's count stays; today's is untouched
		f.usage(Usage{1, 1, 0, 0})
	})
}

func TestPerMinuteRetryAfterIsExact(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		l := Limits{CallsPerMinute: n(2)}
		f.admit("call_1", l)
		f.clock.Advance(10 * time.Second)
		f.admit("call_2", l)
		f.clock.Advance(10 * time.Second)
		f.refuse("call_3", l, ExceededError{CallsPerMinute, 2, 40 * time.Second})
		f.clock.Advance(40*time.Second - time.Millisecond)
		f.refuse("call_3", l, ExceededError{CallsPerMinute, 2, time.Millisecond})
		f.clock.Advance(time.Millisecond)
		f.admit("call_3", l)
		// lowered below the count (call_2 and call_3 in the window): both must leave
		f.refuse("call_4", Limits{CallsPerMinute: n(1)}, ExceededError{CallsPerMinute, 1, time.Minute})
	})
}

func TestDailyCallsRollOverAtUTCMidnight(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		f.clock.Set(time.Date(2026, 11, 23, 23, 59, 30, 0, time.UTC))
		l := Limits{DailyCallsMax: n(1)}
		f.admit("call_1", l)
		f.refuse("call_2", l, ExceededError{DailyCalls, 1, 30 * time.Second})
		f.clock.Advance(30 * time.Second)
		f.admit("call_2", l)
		f.usage(Usage{2, 2, 1, 0})
	})
}

func TestRebuildAfterRedisLosesItsData(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		f.admit("call_1", Limits{})
		f.must(f.rdb.FlushDB(ctx).Err()) // what a restart without persistence leaves

		if err := f.Reserve(ctx, acct, "call_2", Limits{}); !errors.Is(err, ErrNotReady) {
			t.Fatalf("Reserve after a flush = %v; want ErrNotReady", err)
		}
		if _, err := f.Usage(ctx, acct); !errors.Is(err, ErrNotReady) {
			t.Fatalf("Usage after a flush = %v; want ErrNotReady", err)
		}
		if err := f.Renew(ctx, acct, "call_1"); !errors.Is(err, ErrNotReady) {
			t.Fatalf("Renew after a flush = %v; want ErrNotReady", err)
		}
		if err := f.Settle(ctx, acct, "call_1", time.Minute); !errors.Is(err, ErrNotReady) {
			t.Fatalf("Settle after a flush = %v; want ErrNotReady", err)
		}
		f.must(f.Release(ctx, acct, "call_1"))
		if ready, err := f.Ready(ctx, acct); ready || err != nil {
			t.Fatalf("Ready = %v, %v; want false", ready, err)
		}
		if keys := f.rdb.Keys(ctx, "*").Val(); len(keys) != 0 {
			t.Fatalf("not ready, yet keys were written: %v", keys)
		}

		now := f.clock.Now()
		snap := Snapshot{
			Active:       []string{"call_a", "call_b"},
			RecentCalls:  []time.Time{now.Add(-70 * time.Second), now.Add(-30 * time.Second), now.Add(-10 * time.Second)},
			CallsToday:   5,
			MinutesToday: 7,
		}
		if ok, err := f.Rebuild(ctx, acct, snap); !ok || err != nil {
			t.Fatalf("Rebuild = %v, %v; want true", ok, err)
		}
		f.usage(Usage{2, 2, 5, 7})
		if ok, err := f.Rebuild(ctx, acct, Snapshot{CallsToday: 1}); ok || err != nil {
			t.Fatalf("second Rebuild = %v, %v; want false (no overwrite)", ok, err)
		}
		f.usage(Usage{2, 2, 5, 7})

		l := Limits{ConcurrentMax: n(3), CallsPerMinute: n(4), DailyCallsMax: n(7), DailyMinutesMax: n(8)}
		f.admit("call_c", l)
		f.refuse("call_d", l, ExceededError{Concurrent, 3, time.Second})
		f.must(f.Settle(ctx, acct, "call_a", 20*time.Second)) // a slot frees, an 8th minute is used
		f.refuse("call_d", l, ExceededError{DailyMinutes, 8, 12 * time.Hour})
		l.DailyMinutesMax = nil
		f.admit("call_d", l)
		f.refuse("call_e", Limits{CallsPerMinute: n(4)}, ExceededError{CallsPerMinute, 4, 30 * time.Second})
		f.refuse("call_e", Limits{DailyCallsMax: n(7)}, ExceededError{DailyCalls, 7, 12 * time.Hour})
		// the rebuilt active calls hold leased slots
		f.clock.Advance(2 * time.Minute)
		f.usage(Usage{0, 0, 7, 8})
	})
}

func TestScriptCacheFlushed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		f.must(f.rdb.ScriptFlush(ctx).Err())
		f.admit("call_1", Limits{ConcurrentMax: n(2)})
		f.must(f.rdb.ScriptFlush(ctx).Err())
		f.must(f.Renew(ctx, acct, "call_1"))
		f.must(f.rdb.ScriptFlush(ctx).Err())
		f.must(f.Settle(ctx, acct, "call_1", time.Second))
		f.must(f.rdb.ScriptFlush(ctx).Err())
		f.must(f.Release(ctx, acct, "call_1"))
		f.must(f.rdb.ScriptFlush(ctx).Err())
		if ok, err := f.Rebuild(ctx, "acct_other", Snapshot{}); !ok || err != nil {
			t.Fatalf("Rebuild = %v, %v", ok, err)
		}
		f.usage(Usage{0, 1, 1, 1})
	})
}

func TestKeysShareTheAccountsHashTag(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		f.admit("call_1", Limits{})
		f.admit("call_2", Limits{})
		f.must(f.Settle(ctx, acct, "call_1", time.Minute))
		f.must(f.Release(ctx, acct, "call_2"))
		f.admit("call_3", Limits{})
		keys := f.rdb.Keys(ctx, "*").Val()
		if len(keys) != 8 {
			t.Errorf("keys %v; want ready, active, minute, calls, minutes and three call states", keys)
		}
		for _, k := range keys {
			if !strings.HasPrefix(k, "caps:{"+acct+"}:") {
				t.Errorf("key %q lacks the hash tag {%s}", k, acct)
			}
			if ttl := f.rdb.PTTL(ctx, k).Val(); ttl <= 0 {
				t.Errorf("key %q has no expiry (PTTL %s)", k, ttl)
			}
		}
	})
}

func TestInvalidIDs(t *testing.T) {
	s := New(newMiniredis(t), Options{})
	for _, err := range []error{
		s.Reserve(ctx, "", "call_1", Limits{}),
		s.Reserve(ctx, "acct_{x}", "call_1", Limits{}),
		s.Reserve(ctx, acct, "", Limits{}),
		s.Settle(ctx, acct, "", 0),
	} {
		if err == nil || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotReady) {
			t.Errorf("got %v; want an invalid id error", err)
		}
	}
}

func TestRedisUnreachableFailsClosed(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	rdb := redis.NewClient(&redis.Options{Addr: addr, Password: "s3cret-pw", MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second})
	defer rdb.Close()
	s := New(rdb, Options{})

	_, usageErr := s.Usage(ctx, acct)
	_, rebuildErr := s.Rebuild(ctx, acct, Snapshot{})
	_, readyErr := s.Ready(ctx, acct)
	for i, err := range []error{
		s.Reserve(ctx, acct, "call_1", Limits{}),
		s.Release(ctx, acct, "call_1"),
		s.Settle(ctx, acct, "call_1", time.Minute),
		s.Renew(ctx, acct, "call_1"),
		usageErr, rebuildErr, readyErr,
	} {
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%d: got %v; want ErrUnavailable", i, err)
			continue
		}
		var op *net.OpError
		if !errors.As(err, &op) {
			t.Errorf("%d: %v does not keep its cause", i, err)
		}
		if msg := err.Error(); strings.Contains(msg, addr) || strings.Contains(msg, "127.0.0.1") || strings.Contains(msg, "s3cret") {
			t.Errorf("%d: %q reveals where Redis is", i, msg)
		}
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Reserve(cancelled, acct, "call_1", Limits{}); !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) {
		t.Errorf("Reserve with a cancelled context = %v; want context.Canceled", err)
	}
}
