package caps

import (
	"strconv"
	"sync/atomic"
	"testing"
)

// benchStore is a Store on a real Redis with the real clock and an account that is ready.
func benchStore(b *testing.B) *Store {
	s := New(newRedis(b), Options{})
	if _, err := s.Rebuild(ctx, acct, Snapshot{}); err != nil {
		b.Fatal(err)
	}
	return s
}

// benchLimits are caps on all four dimensions that never refuse, so every check runs.
var benchLimits = Limits{ConcurrentMax: n(1 << 30), CallsPerMinute: n(1 << 30), DailyCallsMax: n(1 << 30), DailyMinutesMax: n(1 << 30)}

// reserveRelease is one reservation given back, the cost a refused dispatch adds.
func reserveRelease(b *testing.B, s *Store, id string) {
	if err := s.Reserve(ctx, acct, id, benchLimits); err != nil {
		b.Fatal(err)
	}
	if err := s.Release(ctx, acct, id); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkReserve(b *testing.B) {
	s := benchStore(b)
	i := 0
	for b.Loop() {
		i++
		reserveRelease(b, s, "call_"+strconv.Itoa(i))
	}
}

func BenchmarkReserveParallel(b *testing.B) {
	s := benchStore(b)
	var ids atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			reserveRelease(b, s, "call_"+strconv.FormatInt(ids.Add(1), 10))
		}
	})
}
