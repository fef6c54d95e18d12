package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Khan/genqlient/graphql"

	"github.com/switchboard-dev/switchboard/integration/client"
	"github.com/switchboard-dev/switchboard/internal/testenv"
)

// callStack is a server on its own stack that dials through the fake Twilio, with an account
// that owns one outbound number on it.
type callStack struct {
	stack
	srv        *server
	carrier    *fakeTwilio
	c          clientT
	providerID string
	from       string
}

const callerID = "+14155550180"

func newCallStack(t testing.TB, extra ...map[string]string) *callStack {
	t.Helper()
	cs := &callStack{stack: newStack(t), carrier: newFakeTwilio(t), from: callerID}
	env := map[string]string{
		"SWITCHBOARD_CARRIER_API_URLS": "twilio=" + cs.carrier.srv.URL,
		"SWITCHBOARD_ANSWER_URL":       "https://voice.example/answer/{session}",
	}
	cs.srv = cs.stack.start(t, append([]map[string]string{env}, extra...)...)
	cs.c = cs.srv.client(t, "acct_caller")
	cs.providerID = twilioProvider(t, cs.c)
	createNumber(t, cs.c, cs.providerID, cs.from, nil)
	return cs
}

// limit sets the account's caps: one dimension to n, the others unlimited.
func (cs *callStack) limit(t *testing.T, dimension string, n int) {
	t.Helper()
	limits := map[string]string{"concurrentMax": "null", "callsPerMinute": "null", "dailyCallsMax": "null", "dailyMinutesMax": "null"}
	limits[dimension] = fmt.Sprint(n)
	must(t, rawMutation(cs.c, fmt.Sprintf(`mutation { updateCallLimits(input: {concurrentMax: %s, callsPerMinute: %s, dailyCallsMax: %s, dailyMinutesMax: %s}) { concurrentMax } }`,
		limits["concurrentMax"], limits["callsPerMinute"], limits["dailyCallsMax"], limits["dailyMinutesMax"])))
}

// rawMutation sends an operation the generated client has no function for.
func rawMutation(c clientT, query string) error {
	return c.MakeRequest(ctx, &graphql.Request{Query: query}, &graphql.Response{})
}

// originate places a call from the account's number to the nth test number.
func (cs *callStack) originate(n int, key *string) (client.CallFields, error) {
	res, err := client.OriginateCall(ctx, cs.c, client.OriginateCallInput{From: cs.from, To: fmt.Sprintf("+1415557%04d", n), IdempotencyKey: key})
	if err != nil {
		return client.CallFields{}, err
	}
	return res.OriginateCall.CallFields, nil
}

// burst places n calls at once and returns how many succeeded and the dimensions of the
// CAP_EXCEEDED refusals; any other error fails t.
func (cs *callStack) burst(t *testing.T, n int) (ok int, refused map[string]int) {
	t.Helper()
	var mu sync.Mutex
	refused = map[string]int{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := cs.originate(i, nil)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
				return
			}
			list := gqlErrors(err)
			if len(list) == 0 || list[0].Extensions["code"] != "CAP_EXCEEDED" {
				t.Errorf("call %d: %s", i, describe(err))
				return
			}
			refused[fmt.Sprint(list[0].Extensions["dimension"])]++
		})
	}
	wg.Wait()
	return ok, refused
}

// capDimensions are the caps: each limit and the dimension a refusal names.
var capDimensions = []struct{ limit, dimension string }{
	{"concurrentMax", "concurrent"},
	{"callsPerMinute", "callsPerMinute"},
	{"dailyCallsMax", "dailyCalls"},
	{"dailyMinutesMax", "dailyMinutes"},
}

// 200 concurrent originateCall against a cap of 10: exactly 10 reach the carrier, 190 are
// CAP_EXCEEDED naming the dimension — for each of the three call-count dimensions.
func TestCapsAreExactUnderConcurrency(t *testing.T) {
	for _, tc := range capDimensions[:3] { // talk minutes are charged when calls end
		t.Run(tc.limit, func(t *testing.T) {
			cs := newCallStack(t)
			cs.limit(t, tc.limit, 10)
			ok, refused := cs.burst(t, 200)
			if ok != 10 || refused[tc.dimension] != 190 || len(refused) != 1 {
				t.Fatalf("%d placed, refusals %v; want 10 placed and 190 refused on %s", ok, refused, tc.dimension)
			}
			if got := cs.carrier.calls.Load(); got != 10 {
				t.Fatalf("the carrier received %d create-call requests, want 10", got)
			}
			u, err := client.Usage(ctx, cs.c)
			must(t, err)
			if u.Usage.CallsToday != 10 || u.Usage.Concurrent != 10 {
				t.Fatalf("usage %+v, want 10 calls today and in progress", u.Usage)
			}
		})
	}
}

// 0 on any dimension is a kill switch: nothing reaches the carrier.
func TestZeroIsAKillSwitch(t *testing.T) {
	for _, tc := range capDimensions {
		t.Run(tc.limit, func(t *testing.T) {
			cs := newCallStack(t)
			cs.limit(t, tc.limit, 0)
			ok, refused := cs.burst(t, 5)
			if ok != 0 || refused[tc.dimension] != 5 {
				t.Fatalf("%d placed, refusals %v", ok, refused)
			}
			_, err := cs.originate(99, nil)
			msg := wantCode(t, err, "CAP_EXCEEDED", "")
			if got := cs.carrier.calls.Load(); got != 0 {
				t.Fatalf("the carrier received %d requests with %s at 0 (%s)", got, tc.limit, msg)
			}
		})
	}
}

// A carrier that refuses a call (4xx) gets its reservation back: the next call is admitted. A
// 5xx does not prove that no call exists (the carrier may have created it before failing), so
// that call keeps its slot, and the next call is CAP_EXCEEDED, until the carrier's status
// callback settles it.
func TestCarrierRefusalReleasesTheReservation(t *testing.T) {
	cs := newCallStack(t)
	cs.limit(t, "concurrentMax", 1)
	const account = "acct_caller" // newCallStack's

	cs.carrier.replyWith(func(int64) (int, string) {
		return http.StatusBadRequest, `{"code": 21211, "message": "The 'To' number +14155570000 is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}`
	})
	_, err := cs.originate(0, nil)
	wantCode(t, err, "CARRIER_ERROR", "")
	if got := gqlErrors(err)[0].Extensions["carrierCode"]; got != "21211" {
		t.Fatalf("carrierCode %v, want 21211", got)
	}

	cs.carrier.replyWith(func(int64) (int, string) {
		return http.StatusInternalServerError, `{"code": 20500, "message": "Internal Server Error", "status": 500}`
	})
	_, err = cs.originate(1, nil)
	wantCode(t, err, "CARRIER_ERROR", "")
	ext := gqlErrors(err)[0].Extensions
	unknownID, _ := ext["callID"].(string)
	if ext["carrierCode"] != "OUTCOME_UNKNOWN" || unknownID == "" {
		t.Fatalf("a 500 reply: extensions %v, want carrierCode OUTCOME_UNKNOWN and the callID", ext)
	}
	if got := callStatus(t, cs.c, unknownID); got.Status != client.CallStatusQueued || got.ProviderCallID != nil || got.EndedAt != nil {
		t.Fatalf("the call answered with a 500 is %+v, want it QUEUED, without a carrier id", got)
	}
	_, err = cs.originate(2, nil)
	wantCode(t, err, "CAP_EXCEEDED", "")
	if dim := gqlErrors(err)[0].Extensions["dimension"]; dim != "concurrent" {
		t.Fatalf("the call after the 500 was refused on %v, want concurrent: the 500's call holds the slot", dim)
	}
	if u := checkBooks(t, cs.stack, account); u.Concurrent != 1 || u.CallsToday != 1 {
		t.Fatalf("usage %+v after a refusal and a 500: want the 500's call alone in progress and today", u)
	}
	if n := cs.carrier.calls.Load(); n != 2 {
		t.Fatalf("the carrier received %d create-call requests, want 2 (nothing retried, nothing sent past the cap)", n)
	}

	// The carrier did have the call: its callback, found by the call id in its URL, ends it.
	const sid = "CA5000000000000000000000000000cafe"
	if code := cs.srv.twilioCallback(t, cs.providerID, unknownID, sid, "no-answer", nil, twilioToken); code != http.StatusNoContent {
		t.Fatalf("no-answer callback for the 500's call: HTTP %d", code)
	}
	if got := callStatus(t, cs.c, unknownID); got.Status != client.CallStatusNoAnswer || deref(got.ProviderCallID) != sid || got.EndedAt == nil {
		t.Fatalf("the 500's call after its callback: %+v, want NO_ANSWER with carrier id %s", got, sid)
	}

	cs.carrier.replyWith(func(n int64) (int, string) {
		return http.StatusCreated, fmt.Sprintf(`{"sid": "CA%032x", "status": "queued"}`, n)
	})
	c, err := cs.originate(3, nil)
	must(t, err)
	if c.Status != client.CallStatusQueued || c.ProviderCallID == nil {
		t.Fatalf("admitted call %+v", c)
	}
	if u := checkBooks(t, cs.stack, account); u.Concurrent != 1 || u.CallsToday != 2 {
		t.Fatalf("usage %+v: want the admitted call in progress, 2 calls today (the refused one does not count)", u)
	}
	failed, err := client.Calls(ctx, cs.c, nil, &client.CallWhereInput{Status: ptr(client.CallStatusFailed)})
	must(t, err)
	if failed.Calls.TotalCount != 1 {
		t.Fatalf("%d calls recorded as FAILED, want 1 (the refused one)", failed.Calls.TotalCount)
	}
}

// A completed callback delivered three times charges once; a late ringing changes nothing; the
// day's minutes, once used, block the next call. Bad signatures change nothing.
func TestStatusCallbacks(t *testing.T) {
	cs := newCallStack(t)
	_, err := client.UpdateCallLimits(ctx, cs.c, ptr(5), nil, nil, ptr(2))
	must(t, err)
	c, err := cs.originate(0, nil)
	must(t, err)
	sid := *c.ProviderCallID

	completed := url.Values{"CallDuration": {"61"}}
	if code := cs.srv.twilioCallback(t, cs.providerID, c.Id, sid, "completed", completed, "ffffffffffffffffffffffffffffffff"); code != http.StatusForbidden {
		t.Fatalf("callback signed with the wrong token: HTTP %d, want 403", code)
	}
	// A tampered parameter: signed for 1 second, sent with 3600.
	form := url.Values{"CallSid": {sid}, "AccountSid": {twilioSID}, "CallStatus": {"completed"}, "CallDuration": {"1"}}
	target := fmt.Sprintf("%s/webhooks/twilio/%s?call=%s", cs.srv.URL, cs.providerID, c.Id)
	sig := twilioSignature(twilioToken, target, form)
	form.Set("CallDuration", "3600")
	req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", sig)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("tampered callback: %v %v", res.StatusCode, err)
	}
	if got := callStatus(t, cs.c, c.Id); got.Status != client.CallStatusQueued {
		t.Fatalf("a refused callback changed the call: %+v", got)
	}

	for _, st := range []string{"ringing", "in-progress"} {
		if code := cs.srv.twilioCallback(t, cs.providerID, c.Id, sid, st, nil, twilioToken); code != http.StatusNoContent {
			t.Fatalf("%s callback: HTTP %d", st, code)
		}
	}
	for range 3 {
		if code := cs.srv.twilioCallback(t, cs.providerID, c.Id, sid, "completed", completed, twilioToken); code != http.StatusNoContent {
			t.Fatalf("completed callback: HTTP %d", code)
		}
	}
	if code := cs.srv.twilioCallback(t, cs.providerID, c.Id, sid, "ringing", nil, twilioToken); code != http.StatusNoContent {
		t.Fatalf("late ringing callback: HTTP %d", code)
	}
	got := callStatus(t, cs.c, c.Id)
	if got.Status != client.CallStatusCompleted || got.DurationSeconds != 61 || got.AnsweredAt == nil || got.EndedAt == nil {
		t.Fatalf("call after callbacks: %+v", got)
	}
	u, err := client.Usage(ctx, cs.c)
	must(t, err)
	if u.Usage.MinutesToday != 2 || u.Usage.Concurrent != 0 || u.Usage.CallsToday != 1 {
		t.Fatalf("usage %+v, want 2 minutes (61 s, charged once), nothing in progress", u.Usage)
	}
	_, err = cs.originate(1, nil)
	wantCode(t, err, "CAP_EXCEEDED", "")
	if d := gqlErrors(err)[0].Extensions["dimension"]; d != "dailyMinutes" {
		t.Fatalf("refused on %v, want dailyMinutes", d)
	}
	if got := cs.carrier.calls.Load(); got != 1 {
		t.Fatalf("carrier received %d calls, want 1", got)
	}
}

func callStatus(t *testing.T, c clientT, id string) client.CallFields {
	t.Helper()
	res, err := client.Call(ctx, c, id)
	must(t, err)
	call, ok := res.Node.(*client.CallNodeCall)
	if !ok {
		t.Fatalf("node(%s) is %#v", id, res.Node)
	}
	return call.CallFields
}

// The same idempotency key returns the first call and dials once, also when sent concurrently.
func TestIdempotencyKey(t *testing.T) {
	cs := newCallStack(t)
	key := "4b0f4b1e-7a51-4a0e-9f35-3b1c2a0e5d11"
	first, err := cs.originate(0, &key)
	must(t, err)
	again, err := cs.originate(0, &key)
	must(t, err)
	if again.Id != first.Id || cs.carrier.calls.Load() != 1 {
		t.Fatalf("repeat returned %s (first %s), carrier saw %d requests", again.Id, first.Id, cs.carrier.calls.Load())
	}

	key2 := "c0ncurrent-key"
	ids := make([]string, 10)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			c, err := cs.originate(1, &key2)
			if err != nil {
				t.Errorf("concurrent repeat %d: %s", i, describe(err))
				return
			}
			ids[i] = c.Id
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent requests with one key returned different calls: %v", ids)
		}
	}
	if got := cs.carrier.calls.Load(); got != 2 {
		t.Fatalf("carrier received %d requests for two keys", got)
	}
	all, err := client.Calls(ctx, cs.c, nil, nil)
	must(t, err)
	if all.Calls.TotalCount != 2 {
		t.Fatalf("%d calls recorded for two keys", all.Calls.TotalCount)
	}
}

// Only the account's own outbound numbers, for their own agent, may be the caller ID.
func TestCallerIDRules(t *testing.T) {
	cs := newCallStack(t)
	other := cs.srv.client(t, "acct_other")
	otherProvider := twilioProvider(t, other)
	createNumber(t, other, otherProvider, "+14155550181", nil)
	inboundOnly := createNumber(t, cs.c, cs.providerID, "+14155550182", nil)
	_, err := client.SetPhoneNumberDirections(ctx, cs.c, inboundOnly.Id, nil, ptr(false))
	must(t, err)
	createNumber(t, cs.c, cs.providerID, "+14155550183", ptr("agent_a"))

	for name, in := range map[string]client.OriginateCallInput{
		"another account's number": {From: "+14155550181", To: "+14155570001"},
		"an inbound-only number":   {From: "+14155550182", To: "+14155570001"},
		"an unknown number":        {From: "+14155550189", To: "+14155570001"},
		"another agent's number":   {From: "+14155550183", To: "+14155570001", AgentID: ptr("agent_b")},
	} {
		_, err := client.OriginateCall(ctx, cs.c, in)
		msg := wantCode(t, err, "CALLER_ID_NOT_ALLOWED", "from")
		t.Logf("%s: %s", name, msg)
	}
	if got := cs.carrier.calls.Load(); got != 0 {
		t.Fatalf("the carrier received %d requests", got)
	}
	// The pinned agent may call, and a call from a pinned number without agentID is the pin's.
	res, err := client.OriginateCall(ctx, cs.c, client.OriginateCallInput{From: "+14155550183", To: "+14155570002"})
	must(t, err)
	if a := res.OriginateCall.AgentID; a == nil || *a != "agent_a" {
		t.Fatalf("call from a number pinned to agent_a has agentID %v", a)
	}
}

// verifyProvider asks the carrier and records when it accepted the credentials.
func TestVerifyProvider(t *testing.T) {
	cs := newCallStack(t)
	res, err := client.VerifyProvider(ctx, cs.c, cs.providerID)
	must(t, err)
	if res.VerifyProvider.VerifiedAt == nil {
		t.Fatal("verifiedAt not set")
	}
	cs.carrier.mu.Lock()
	cs.carrier.verify = func() (int, string) {
		return http.StatusUnauthorized, `{"code": 20003, "message": "Authentication Error - invalid username", "status": 401}`
	}
	cs.carrier.mu.Unlock()
	_, err = client.VerifyProvider(ctx, cs.c, cs.providerID)
	wantCode(t, err, "CARRIER_ERROR", "")
	if got := gqlErrors(err)[0].Extensions["carrierCode"]; got != "20003" {
		t.Fatalf("carrierCode %v", got)
	}
}

// Redis down: originate fails closed with UNAVAILABLE and dials nothing. Redis back with empty
// memory: the counters are rebuilt from Postgres before anything is admitted, so the calls still
// in progress keep their slots.
func TestRedisOutageFailsClosedAndRebuilds(t *testing.T) {
	redisSrv := testenv.StartRedis(t)
	cs := newCallStack(t, map[string]string{"SWITCHBOARD_REDIS_URL": redisSrv.URL})
	cs.limit(t, "concurrentMax", 2)
	_, err := cs.originate(0, nil)
	must(t, err)

	redisSrv.Stop(t)
	_, err = cs.originate(1, nil)
	wantCode(t, err, "UNAVAILABLE", "")
	if got := cs.carrier.calls.Load(); got != 1 {
		t.Fatalf("with Redis down the carrier received a request (%d in all)", got)
	}

	redisSrv.Start(t)
	ok, refused := cs.burst(t, 5)
	if ok != 1 || refused["concurrent"] != 4 {
		t.Fatalf("after Redis came back empty: %d placed, refusals %v; want 1 placed (one call was still in progress) and 4 refused", ok, refused)
	}
	u, err := client.Usage(ctx, cs.c)
	must(t, err)
	if u.Usage.Concurrent != 2 || u.Usage.CallsToday != 2 {
		t.Fatalf("rebuilt usage %+v, want 2 in progress and 2 today", u.Usage)
	}
}

// A subscriber on one replica sees every status change, in order, of a sandbox call placed and
// settled through another: events fan out through Redis.
func TestSubscriberSeesCallsOfAnotherReplica(t *testing.T) {
	st := newStack(t)
	sandbox := map[string]string{"SWITCHBOARD_SANDBOX": "true"}
	one, two := st.start(t, sandbox), st.start(t, sandbox)
	c2 := two.client(t, "acct_live")
	creds := json.RawMessage(`{"token": "sandbox-token-0123456789", "ring_seconds": "0.05", "talk_seconds": "0.1"}`)
	createNumber(t, c2, createProviderWith(t, c2, "sandbox", creds), "+14155550190", nil)

	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	updates := one.subscribe(t, wctx, "acct_live", `subscription { callUpdated { id status } }`)

	next := func() (id, status string) {
		var u struct{ CallUpdated struct{ ID, Status string } }
		if err := json.Unmarshal(<-updates, &u); err != nil {
			t.Fatal(err)
		}
		return u.CallUpdated.ID, u.CallUpdated.Status
	}
	// The subscription is live once it delivers: a first call proves it, the second is watched.
	probe, err := client.OriginateCall(ctx, c2, client.OriginateCallInput{From: "+14155550190", To: "+14155570008"})
	must(t, err)
	for id, status := next(); id != probe.OriginateCall.Id || status != "COMPLETED"; id, status = next() {
	}
	res, err := client.OriginateCall(ctx, c2, client.OriginateCallInput{From: "+14155550190", To: "+14155570009"})
	must(t, err)
	var seen []string
	for len(seen) < 3 {
		id, status := next()
		if id != res.OriginateCall.Id {
			t.Fatalf("update of another call %s", id)
		}
		seen = append(seen, status)
	}
	if got := strings.Join(seen, " "); got != "RINGING IN_PROGRESS COMPLETED" {
		t.Fatalf("subscriber on replica one saw %q", got)
	}
}
