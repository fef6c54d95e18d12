package integration

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/switchboard-dev/switchboard/integration/client"
)

// BenchmarkOriginate measures originateCall through the whole stack: HTTP, GraphQL, auth, Ent
// on Postgres, the caps script on Redis, decrypting the credentials and a fake Twilio that
// answers at once. The caps are lifted so every call is placed.
//
//	go test -run '^$' -bench Originate -benchtime 2000x ./integration/
func BenchmarkOriginate(b *testing.B) {
	cs := newCallStack(b)
	q := `mutation { updateCallLimits(input: {concurrentMax: null, callsPerMinute: null, dailyCallsMax: null, dailyMinutesMax: null}) { concurrentMax } }`
	must(b, rawMutation(cs.c, q))
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			_, err := client.OriginateCall(ctx, cs.c, client.OriginateCallInput{From: cs.from, To: fmt.Sprintf("+1415%07d", i)})
			if err != nil {
				b.Error(describe(err))
				return
			}
		}
	})
	b.StopTimer()
	if got := cs.carrier.calls.Load(); got != n.Load() {
		b.Fatalf("%d originates, %d carrier requests", n.Load(), got)
	}
}
