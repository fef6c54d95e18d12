package integration

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/switchboard-dev/switchboard/caps"
	"github.com/switchboard-dev/switchboard/integration/client"
)

// booksGrace bounds how long checkBooks waits for the books to balance: callbacks and settles
// that are in flight when it is called land within it. It is no substitute for the sweeper: a
// test that relies on the sweeper to settle must make it run sooner (SWITCHBOARD_SWEEP_INTERVAL).
const booksGrace = 10 * time.Second

// checkBooks fails t unless the account's caps counters in Redis agree with its calls in
// Postgres. st must name the Postgres database and the Redis the servers use (set st.RedisURL
// or st.DatabaseURL when a test runs its own containers). Call it once the calls of interest
// have come to rest; it retries for booksGrace so that a callback or settle in flight does
// not fail it, then reports every discrepancy of the last attempt. It returns the account's
// usage as last read.
//
// Balanced books (see package caps and calls/lifecycle.go):
//   - every row is consistent: a final status has ended_at and an unfinished one none, a call
//     sent to the carrier has its carrier id or a failure reason, a refused or unconfirmed one
//     its failure reason;
//   - every ended call is caps_settled;
//   - the counters are loaded (ready) — after Redis lost them, a request must rebuild them;
//   - concurrent == the unfinished calls whose dispatch is not refused, and the members of
//     the active set holding a live lease are exactly those calls' ids (no reservation
//     without a live call, no live call without its slot);
//   - callsToday == the calls created today (UTC) whose dispatch is not refused (Release
//     gives a refused call's count back);
//   - minutesToday == the sum of caps.ChargedMinutes over the settled calls that ended today;
//   - no ended call is still "reserved" in Redis (its Settle never reached Redis).
//
// The counters are read from Redis directly (caps.Store.Usage and the active set), not
// through the API's usage query: that query rebuilds lost counters from Postgres first, which
// would make the books balance by construction and hide exactly the loss this checks.
func checkBooks(t *testing.T, st stack, account string) caps.Usage {
	t.Helper()
	pool := st.db(t)
	opts, err := redis.ParseURL(st.RedisURL)
	if err != nil {
		t.Fatalf("checkBooks: Redis URL: %v", err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()

	deadline := time.Now().Add(booksGrace)
	for {
		u, problems := books(pool, rdb, account)
		if len(problems) == 0 {
			return u
		}
		if time.Now().After(deadline) {
			t.Fatalf("the books of %s do not balance (usage in Redis %+v):\n  %s", account, u, strings.Join(problems, "\n  "))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// bookedCall is what the books need of a call row.
type bookedCall struct {
	id, status, dispatch    string
	providerCallID, failure *string
	settled                 bool
	created                 time.Time
	ended                   *time.Time
	duration                int
}

// finalStatuses are the call statuses that end a call.
var finalStatuses = []string{"COMPLETED", "BUSY", "NO_ANSWER", "FAILED", "CANCELED"}

// books compares the account's rows with its counters once and lists every discrepancy.
func books(pool *pgxpool.Pool, rdb *redis.Client, account string) (caps.Usage, []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := pool.Query(ctx, `SELECT id, status, dispatch, provider_call_id, failure_reason, caps_settled,
		created_at, ended_at, duration_seconds FROM calls WHERE account_id = $1 ORDER BY id`, account)
	if err != nil {
		return caps.Usage{}, []string{"read the calls from Postgres: " + err.Error()}
	}
	var calls []bookedCall
	for rows.Next() {
		var c bookedCall
		if err := rows.Scan(&c.id, &c.status, &c.dispatch, &c.providerCallID, &c.failure, &c.settled, &c.created, &c.ended, &c.duration); err != nil {
			rows.Close()
			return caps.Usage{}, []string{"scan a call row: " + err.Error()}
		}
		calls = append(calls, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return caps.Usage{}, []string{"read the calls from Postgres: " + err.Error()}
	}

	// The store reads at its own "now", so today is the same UTC day for both sides.
	now := time.Now().UTC()
	today := now.Truncate(24 * time.Hour)
	var problems []string
	problem := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	var live []string
	callsToday, minutesToday := 0, int64(0)
	for _, c := range calls {
		final := slices.Contains(finalStatuses, c.status)
		switch {
		case final && c.ended == nil:
			problem("call %s is %s without ended_at", c.id, c.status)
		case !final && c.ended != nil:
			problem("call %s is %s with ended_at set", c.id, c.status)
		case c.dispatch == "sent" && c.providerCallID == nil && c.failure == nil:
			problem("call %s was sent to the carrier but has neither its carrier call id nor a failure reason", c.id)
		case (c.dispatch == "refused" || c.dispatch == "unknown") && c.failure == nil:
			problem("call %s has dispatch %s but no failure reason", c.id, c.dispatch)
		case c.dispatch == "refused" && c.status != "FAILED":
			problem("call %s was refused by the carrier but is %s", c.id, c.status)
		}
		if final && !c.settled {
			problem("call %s ended (%s) but is not caps_settled", c.id, c.status)
		}
		if !final && c.dispatch != "refused" {
			live = append(live, c.id)
		}
		if c.dispatch != "refused" && !c.created.Before(today) {
			callsToday++
		}
		if c.settled && c.ended != nil && !c.ended.Before(today) {
			minutesToday += caps.ChargedMinutes(time.Duration(c.duration) * time.Second)
		}
	}

	slices.Sort(live) // Postgres's collation need not order ids as Go does

	u, err := caps.New(rdb, caps.Options{}).Usage(ctx, account)
	switch {
	case errors.Is(err, caps.ErrNotReady):
		return u, append(problems, "the caps counters are not loaded in Redis (not ready): nothing to compare; "+
			"a request for the account (originateCall, usage) rebuilds them from Postgres")
	case err != nil:
		return u, append(problems, "read the caps counters: "+err.Error())
	}
	if u.Concurrent != len(live) {
		problem("Redis concurrent = %d, but %d calls are unfinished and not refused", u.Concurrent, len(live))
	}
	if u.CallsToday != callsToday {
		problem("Redis callsToday = %d, but %d calls not refused were created today (UTC)", u.CallsToday, callsToday)
	}
	if int64(u.MinutesToday) != minutesToday {
		problem("Redis minutesToday = %d, but the settled calls that ended today were charged %d minutes", u.MinutesToday, minutesToday)
	}

	// Key layout: package caps (default prefix "caps", the account in a hash tag).
	base := "caps:{" + account + "}:"
	held, err := rdb.ZRangeByScore(ctx, base+"active", &redis.ZRangeBy{Min: fmt.Sprintf("(%d", time.Now().UnixMilli()), Max: "+inf"}).Result()
	if err != nil {
		return u, append(problems, "read the active set: "+err.Error())
	}
	slices.Sort(held)
	for _, id := range held {
		if _, found := slices.BinarySearch(live, id); !found {
			problem("Redis holds a concurrent slot for %s, which is not an unfinished call", id)
		}
	}
	for _, id := range live {
		if _, found := slices.BinarySearch(held, id); !found {
			problem("unfinished call %s holds no concurrent slot in Redis", id)
		}
	}

	// An ended call still "reserved" in Redis was never settled there, whatever Postgres says.
	var ended []string
	for _, c := range calls {
		if c.ended != nil {
			ended = append(ended, c.id)
		}
	}
	for chunk := range slices.Chunk(ended, 500) {
		keys := make([]string, len(chunk))
		for i, id := range chunk {
			keys[i] = base + "call:" + id
		}
		states, err := rdb.MGet(ctx, keys...).Result()
		if err != nil {
			return u, append(problems, "read the call states: "+err.Error())
		}
		for i, s := range states {
			if s, ok := s.(string); ok && strings.HasPrefix(s, "r") {
				problem("call %s ended but Redis still has it reserved (%q): it was never settled there", chunk[i], s)
			}
		}
	}
	return u, problems
}

// The books check fails on every kind of imbalance: each counter, the active set and the
// settled flag are corrupted in turn, and books names exactly that discrepancy.
func TestBooksCatchCorruption(t *testing.T) {
	// No sweep while the books are corrupted: it would repair some of it.
	r := newLoadRig(t, newStack(t), 1, 5, map[string]string{"SWITCHBOARD_SWEEP_INTERVAL": "1m"})
	var ids []string
	for i := range 2 {
		res, err := client.OriginateCall(ctx, r.clients[0], client.OriginateCallInput{From: shortFrom, To: fmt.Sprintf("+1415557900%d", i)})
		must(t, err)
		ids = append(ids, res.OriginateCall.Id)
	}
	r.waitAtRest(t, 30*time.Second)
	checkBooks(t, r.st, loadAccount)

	pool := r.st.db(t)
	opts, err := redis.ParseURL(r.st.RedisURL)
	must(t, err)
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	base := "caps:{" + loadAccount + "}:"
	day := time.Now().UTC().Format("2006-01-02")
	sql := func(q string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name            string
		corrupt, repair func() error
		want            []string
	}{
		{"callsToday",
			func() error { return rdb.Incr(ctx, base+"calls:"+day).Err() },
			func() error { return rdb.Decr(ctx, base+"calls:"+day).Err() },
			[]string{"Redis callsToday = 3, but 2 calls not refused were created today (UTC)"}},
		{"minutesToday",
			func() error { return rdb.IncrBy(ctx, base+"minutes:"+day, 5).Err() },
			func() error { return rdb.DecrBy(ctx, base+"minutes:"+day, 5).Err() },
			[]string{"Redis minutesToday = 7, but the settled calls that ended today were charged 2 minutes"}},
		{"a slot without a call",
			func() error {
				return rdb.ZAdd(ctx, base+"active", redis.Z{Score: float64(time.Now().Add(time.Minute).UnixMilli()), Member: "call_ghost"}).Err()
			},
			func() error { return rdb.ZRem(ctx, base+"active", "call_ghost").Err() },
			[]string{"Redis concurrent = 1, but 0 calls are unfinished and not refused",
				"Redis holds a concurrent slot for call_ghost, which is not an unfinished call"}},
		{"an ended call still reserved",
			func() error { return rdb.Set(ctx, base+"call:"+ids[0], "r "+day, time.Hour).Err() },
			func() error { return rdb.Set(ctx, base+"call:"+ids[0], "s", time.Hour).Err() },
			[]string{fmt.Sprintf("call %s ended but Redis still has it reserved (%q): it was never settled there", ids[0], "r "+day)}},
		{"an unsettled call",
			func() error { sql(`UPDATE calls SET caps_settled = false WHERE id = $1`, ids[1]); return nil },
			func() error { sql(`UPDATE calls SET caps_settled = true WHERE id = $1`, ids[1]); return nil },
			[]string{fmt.Sprintf("call %s ended (COMPLETED) but is not caps_settled", ids[1]),
				"Redis minutesToday = 2, but the settled calls that ended today were charged 1 minutes"}},
		{"a call in progress without its slot",
			func() error {
				sql(`UPDATE calls SET status = 'IN_PROGRESS', ended_at = NULL WHERE id = $1`, ids[1])
				return nil
			},
			func() error {
				sql(`UPDATE calls SET status = 'COMPLETED', ended_at = now() WHERE id = $1`, ids[1])
				return nil
			},
			[]string{"Redis concurrent = 0, but 1 calls are unfinished and not refused",
				"Redis minutesToday = 2, but the settled calls that ended today were charged 1 minutes",
				fmt.Sprintf("unfinished call %s holds no concurrent slot in Redis", ids[1])}},
		{"lost counters",
			func() error { return rdb.Rename(ctx, base+"ready", base+"ready-aside").Err() },
			func() error { return rdb.Rename(ctx, base+"ready-aside", base+"ready").Err() },
			[]string{"the caps counters are not loaded in Redis (not ready): nothing to compare; a request for the account (originateCall, usage) rebuilds them from Postgres"}},
	} {
		must(t, tc.corrupt())
		_, got := books(pool, rdb, loadAccount)
		must(t, tc.repair())
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: books reported\n  %s\nwant\n  %s", tc.name, strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
		}
		if _, left := books(pool, rdb, loadAccount); len(left) != 0 {
			t.Fatalf("%s: not repaired: %v", tc.name, left)
		}
	}
}
