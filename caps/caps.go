// Package caps enforces an account's cost caps on outbound calls in Redis, atomically:
// one Lua script checks and reserves all four dimensions of [Limits] at once or none, so
// replicas sharing a Redis cannot over-admit between a check and an increment.
//
// Key layout (prefix "caps" by default; every key carries the account in a {hash tag},
// so an account's keys share one Redis Cluster slot and every script names all its keys):
//
//	caps:{acct}:ready             "1" while the counters reflect the database; TTL 7 days,
//	                              refreshed by every write (an idle account rebuilds once)
//	caps:{acct}:active            sorted set: call ids holding a concurrent slot, scored by
//	                              lease expiry (ms); expired members are pruned by the scripts
//	caps:{acct}:minute            sorted set: call ids scored by reservation time (ms),
//	                              the sliding 60 s window of calls per minute
//	caps:{acct}:calls:YYYY-MM-DD  calls reserved on that UTC day; TTL 48 h
//	caps:{acct}:minutes:YYYY-MM-DD talk minutes charged on that UTC day; TTL 48 h
//	caps:{acct}:call:<callID>     the call's state: "r <day>" reserved (and counted on that
//	                              day), "x" released, "s" settled; TTL 48 h. It makes
//	                              Reserve, Release and Settle idempotent per call id.
//
// Time comes from [Options.Now] and is passed to the scripts, never read from Redis, so
// all replicas (and tests with a fake clock) agree on windows, leases and UTC days.
//
// Redis must not evict these keys (maxmemory-policy noeviction, or no maxmemory): a
// counter evicted while ready stays would admit calls over a cap. After Redis loses its
// data (restart without persistence, flush, failover to an empty replica) the ready key is
// gone too and [Store.Reserve] refuses with [ErrNotReady] until [Store.Rebuild] has set the
// counters from the database.
package caps

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Limits are an account's caps. For each: nil = unlimited, 0 = blocked (kill switch),
// n = at most n. A negative value is treated as 0.
type Limits struct {
	ConcurrentMax   *int // calls holding a slot at once
	CallsPerMinute  *int // reservations in any sliding 60 s
	DailyCallsMax   *int // reservations per UTC day
	DailyMinutesMax *int // talk minutes per UTC day; reservations stop once reached
}

// Dimension names one of the four caps; the values are the GraphQL field names.
type Dimension string

// The dimensions, in the order of Limits.
const (
	Concurrent     Dimension = "concurrent"
	CallsPerMinute Dimension = "callsPerMinute"
	DailyCalls     Dimension = "dailyCalls"
	DailyMinutes   Dimension = "dailyMinutes"
)

var dimensions = [...]Dimension{Concurrent, CallsPerMinute, DailyCalls, DailyMinutes}

// ConcurrentRetryAfter is the RetryAfter of a refusal by ConcurrentMax: a hint only, as a
// slot frees whenever one of the account's calls ends.
const ConcurrentRetryAfter = time.Second

// ExceededError is a reservation refused by a cap. When several caps refuse, it names a
// kill switch (Limit 0) first, else the cap that stays closed longest (ties in the order
// concurrent, callsPerMinute, dailyCalls, dailyMinutes), so that a client waiting
// RetryAfter is not then refused by another.
type ExceededError struct {
	Dimension Dimension
	Limit     int
	// RetryAfter is when a reservation may succeed: for callsPerMinute exactly when
	// enough entries have left the window, for the daily caps the next UTC midnight,
	// for concurrent ConcurrentRetryAfter, and 0 for a kill switch (until the limit
	// changes).
	RetryAfter time.Duration
}

func (e *ExceededError) Error() string {
	if e.Limit == 0 {
		return fmt.Sprintf("caps: %s is blocked (limit 0)", e.Dimension)
	}
	return fmt.Sprintf("caps: %s limit %d reached; retry after %s", e.Dimension, e.Limit, e.RetryAfter)
}

var (
	// ErrUnavailable is wrapped by every error from Redis (unreachable, timed out,
	// erroring): callers fail closed. Only a cancelled context is returned as is.
	ErrUnavailable = errors.New("caps: Redis unavailable")
	// ErrNotReady means the account's counters are not (or no longer) in Redis, e.g.
	// after a Redis restart: call Rebuild from the database, then retry.
	ErrNotReady = errors.New("caps: counters not loaded; rebuild them from the database")
)

const (
	window    = time.Minute    // the calls-per-minute window
	dailyTTL  = 48 * time.Hour // daily counters outlive their day
	callTTL   = 48 * time.Hour // call state: Settle stays idempotent this long
	readyTTL  = 7 * 24 * time.Hour
	dayLayout = "2006-01-02"
)

// Options configure a Store; the zero value is usable.
type Options struct {
	// Lease is how long a reservation holds its concurrent slot unless renewed,
	// which bounds the slot a crashed process leaks. Default 2 minutes.
	Lease time.Duration
	// Now is the clock; default time.Now. Tests inject a fake one.
	Now func() time.Time
	// Prefix starts every key; default "caps".
	Prefix string
}

// Store enforces caps in Redis. It is safe for concurrent use.
type Store struct {
	rdb    redis.UniversalClient
	lease  time.Duration
	now    func() time.Time
	prefix string
}

// New returns a Store on rdb (a client, a cluster client or miniredis behind a client).
func New(rdb redis.UniversalClient, opts Options) *Store {
	s := &Store{rdb: rdb, lease: opts.Lease, now: opts.Now, prefix: opts.Prefix}
	if s.lease <= 0 {
		s.lease = 2 * time.Minute
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.prefix == "" {
		s.prefix = "caps"
	}
	return s
}

var (
	//go:embed reserve.lua
	reserveSrc    string
	reserveScript = redis.NewScript(reserveSrc)
	//go:embed release.lua
	releaseSrc    string
	releaseScript = redis.NewScript(releaseSrc)
	//go:embed settle.lua
	settleSrc    string
	settleScript = redis.NewScript(settleSrc)
	//go:embed renew.lua
	renewSrc    string
	renewScript = redis.NewScript(renewSrc)
	//go:embed rebuild.lua
	rebuildSrc    string
	rebuildScript = redis.NewScript(rebuildSrc)
)

// keys names an account's keys at one instant.
type keys struct {
	base  string // prefix:{account}:
	day   string // today, UTC
	nowMs int64
	// untilMidnightMs is the time left in the UTC day.
	untilMidnightMs int64
}

func (s *Store) keys(account string) (keys, error) {
	if account == "" || strings.ContainsAny(account, "{}") {
		return keys{}, fmt.Errorf("caps: invalid account id %q", account)
	}
	now := s.now().UTC()
	y, m, d := now.Date()
	midnight := time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
	return keys{
		base:            s.prefix + ":{" + account + "}:",
		day:             now.Format(dayLayout),
		nowMs:           now.UnixMilli(),
		untilMidnightMs: midnight.UnixMilli() - now.UnixMilli(),
	}, nil
}

func (k keys) ready() string   { return k.base + "ready" }
func (k keys) active() string  { return k.base + "active" }
func (k keys) minute() string  { return k.base + "minute" }
func (k keys) calls() string   { return k.base + "calls:" + k.day }
func (k keys) minutes() string { return k.base + "minutes:" + k.day }
func (k keys) call(id string) string {
	return k.base + "call:" + id
}

func ms(d time.Duration) int64  { return d.Milliseconds() }
func sec(d time.Duration) int64 { return int64(d / time.Second) }

// limitArg encodes a limit for the scripts: -1 unlimited, else the cap (at least 0).
func limitArg(p *int) int {
	switch {
	case p == nil:
		return -1
	case *p < 0:
		return 0
	default:
		return *p
	}
}

// callKeys is keys for an operation on one call.
func (s *Store) callKeys(account, callID string) (keys, error) {
	if callID == "" {
		return keys{}, errors.New("caps: empty call id")
	}
	return s.keys(account)
}

// Reserve admits one call of account against l, or refuses it. It returns nil (admitted
// and counted: a concurrent slot leased for Options.Lease, one call in the per-minute
// window and in today's calls), an *ExceededError, ErrNotReady, or an error wrapping
// ErrUnavailable. Call ids are single-use: reserving an id again while it holds its slot
// returns nil and counts nothing (a retry is safe), and so does reserving a settled id
// (which takes no slot: that call is over). An id whose lease lapsed takes a slot again if
// one is free, without being counted twice. A released id is counted as a new attempt.
func (s *Store) Reserve(ctx context.Context, account, callID string, l Limits) error {
	k, err := s.callKeys(account, callID)
	if err != nil {
		return err
	}
	res, err := reserveScript.Run(ctx, s.rdb,
		[]string{k.ready(), k.active(), k.minute(), k.calls(), k.minutes(), k.call(callID)},
		callID, k.nowMs, ms(s.lease),
		limitArg(l.ConcurrentMax), limitArg(l.CallsPerMinute), limitArg(l.DailyCallsMax), limitArg(l.DailyMinutesMax),
		k.day, k.untilMidnightMs, sec(dailyTTL), ms(readyTTL), sec(callTTL),
	).Int64Slice()
	if err != nil {
		return unavailable(err)
	}
	switch {
	case len(res) == 1 && res[0] == -1:
		return ErrNotReady
	case len(res) == 1 && (res[0] == 0 || res[0] == 1):
		return nil
	case len(res) == 4 && res[0] == 2 && res[1] >= 1 && res[1] <= 4:
		return &ExceededError{
			Dimension:  dimensions[res[1]-1],
			Limit:      int(res[2]),
			RetryAfter: time.Duration(res[3]) * time.Millisecond,
		}
	}
	return unavailable(fmt.Errorf("unexpected reply %v from the reserve script", res))
}

// Release gives back the reservation of a call that never came to exist (the carrier
// refused it): it frees the slot and also removes the call from the per-minute window and
// from today's calls, as no call was placed. It is idempotent: counts are given back once
// per reservation. A settled call, a call reserved on an earlier UTC day or a call
// rebuilt from the database only frees its slot. When the account is not ready it does
// nothing (the rebuild counts from the database) and returns nil.
func (s *Store) Release(ctx context.Context, account, callID string) error {
	k, err := s.callKeys(account, callID)
	if err != nil {
		return err
	}
	err = releaseScript.Run(ctx, s.rdb,
		[]string{k.ready(), k.active(), k.minute(), k.calls(), k.call(callID)},
		callID, k.day, sec(callTTL), ms(readyTTL),
	).Err()
	return unavailable(err)
}

// ChargedMinutes is what Settle charges for a call of talk time: carriers bill per
// started minute, so ceil(talk / 1 minute); 0 for no talk time.
func ChargedMinutes(talk time.Duration) int64 {
	if talk <= 0 {
		return 0
	}
	return int64((talk + time.Minute - 1) / time.Minute)
}

// Settle records that a call ended: it frees the call's slot and charges its talk
// minutes (ChargedMinutes) to today, the UTC day the call ended, exactly once per call id
// however often it is called within 48 hours. A call that was released is charged its
// minutes without being counted as a call again. When the account is not ready it writes
// nothing and returns ErrNotReady: settle again after a Rebuild, which either counted the
// call (and marked it settled, see Snapshot.Settled) or leaves it to this Settle.
func (s *Store) Settle(ctx context.Context, account, callID string, talk time.Duration) error {
	k, err := s.callKeys(account, callID)
	if err != nil {
		return err
	}
	n, err := settleScript.Run(ctx, s.rdb,
		[]string{k.ready(), k.active(), k.minutes(), k.call(callID)},
		callID, ChargedMinutes(talk), sec(dailyTTL), sec(callTTL), ms(readyTTL),
	).Int64()
	if err != nil {
		return unavailable(err)
	}
	if n < 0 {
		return ErrNotReady
	}
	return nil
}

// Renew extends to Options.Lease from now the leases of callIDs, the calls the database says
// are in progress. A call whose lease lapsed gets its slot back (it is still taking one); a
// call already settled or released is left out. It returns ErrNotReady when the account is
// not ready (a rebuild leases the database's active calls).
func (s *Store) Renew(ctx context.Context, account string, callIDs ...string) error {
	k, err := s.keys(account)
	if err != nil {
		return err
	}
	if len(callIDs) == 0 {
		return nil
	}
	args := make([]any, 0, 3+len(callIDs))
	args = append(args, k.nowMs, ms(s.lease), ms(readyTTL))
	for _, id := range callIDs {
		args = append(args, id)
	}
	keys := []string{k.ready(), k.active()}
	for _, id := range callIDs {
		keys = append(keys, k.call(id))
	}
	n, err := renewScript.Run(ctx, s.rdb, keys, args...).Int64()
	if err != nil {
		return unavailable(err)
	}
	if n < 0 {
		return ErrNotReady
	}
	return nil
}

// Usage is an account's consumption at one instant.
type Usage struct {
	Concurrent      int // calls holding a slot
	CallsLastMinute int // reservations in the last 60 s
	CallsToday      int // reservations this UTC day
	MinutesToday    int // talk minutes charged this UTC day
}

// Usage reads an account's counters in one transaction. It returns ErrNotReady when they
// are not loaded (empty counters would read as zero usage).
func (s *Store) Usage(ctx context.Context, account string) (Usage, error) {
	k, err := s.keys(account)
	if err != nil {
		return Usage{}, err
	}
	var (
		ready, active, recent    *redis.IntCmd
		callsToday, minutesToday *redis.StringCmd
	)
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		ready = p.Exists(ctx, k.ready())
		active = p.ZCount(ctx, k.active(), fmt.Sprintf("(%d", k.nowMs), "+inf")
		recent = p.ZCount(ctx, k.minute(), fmt.Sprintf("(%d", k.nowMs-ms(window)), "+inf")
		callsToday = p.Get(ctx, k.calls())
		minutesToday = p.Get(ctx, k.minutes())
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return Usage{}, unavailable(err)
	}
	if ready.Val() == 0 {
		return Usage{}, ErrNotReady
	}
	u := Usage{Concurrent: int(active.Val()), CallsLastMinute: int(recent.Val())}
	for _, c := range []struct {
		cmd *redis.StringCmd
		dst *int
	}{{callsToday, &u.CallsToday}, {minutesToday, &u.MinutesToday}} {
		n, err := c.cmd.Int()
		if err != nil && !errors.Is(err, redis.Nil) {
			return Usage{}, unavailable(err)
		}
		*c.dst = n
	}
	return u, nil
}

// Ready reports whether the account's counters are loaded (see ErrNotReady).
func (s *Store) Ready(ctx context.Context, account string) (bool, error) {
	k, err := s.keys(account)
	if err != nil {
		return false, err
	}
	n, err := s.rdb.Exists(ctx, k.ready()).Result()
	if err != nil {
		return false, unavailable(err)
	}
	return n == 1, nil
}

// Snapshot is an account's usage according to the database, for Rebuild.
type Snapshot struct {
	// Active are the ids of the calls not yet terminal; each gets a fresh lease.
	Active []string
	// RecentCalls are the creation times of the calls created in the last 60 s; older
	// ones are ignored.
	RecentCalls []time.Time
	// CallsToday counts the calls created this UTC day.
	CallsToday int
	// MinutesToday sums ChargedMinutes of the calls that ended this UTC day.
	MinutesToday int
	// Settled are the ids of the ended calls MinutesToday counts that may still be settled
	// later; they are marked settled so that their minutes are not charged twice.
	Settled []string
}

// Rebuild sets every counter of account from snap and marks it ready, atomically, only
// if it is not ready already: of replicas rebuilding at once the first wins and the others
// change nothing. It reports whether it wrote. "Today" is the UTC day of Options.Now.
// Calls rebuilt this way are not given back by Release (their slot is still freed).
func (s *Store) Rebuild(ctx context.Context, account string, snap Snapshot) (bool, error) {
	k, err := s.keys(account)
	if err != nil {
		return false, err
	}
	args := make([]any, 0, 8+len(snap.Active)+len(snap.RecentCalls))
	args = append(args, k.nowMs, ms(s.lease), max(snap.CallsToday, 0), max(snap.MinutesToday, 0),
		sec(dailyTTL), ms(readyTTL), sec(callTTL), len(snap.Active))
	for _, id := range snap.Active {
		args = append(args, id)
	}
	for _, t := range snap.RecentCalls {
		if t := t.UnixMilli(); t > k.nowMs-ms(window) {
			args = append(args, t)
		}
	}
	keys := []string{k.ready(), k.active(), k.minute(), k.calls(), k.minutes()}
	for _, id := range snap.Settled {
		keys = append(keys, k.call(id))
	}
	n, err := rebuildScript.Run(ctx, s.rdb, keys, args...).Int64()
	if err != nil {
		return false, unavailable(err)
	}
	return n == 1, nil
}

// unavailable wraps a Redis error in ErrUnavailable; nil and a cancelled context pass.
func unavailable(err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	return &unavailableError{cause: err}
}

// unavailableError keeps the cause for errors.Is/As but leaves addresses and host names
// out of its message, so it can be logged without revealing the Redis location.
type unavailableError struct{ cause error }

func (e *unavailableError) Error() string   { return ErrUnavailable.Error() + ": " + describe(e.cause) }
func (e *unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.cause} }

func describe(err error) string {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return "cannot resolve the host: " + dns.Err
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Op + ": " + op.Err.Error()
	}
	return err.Error()
}
