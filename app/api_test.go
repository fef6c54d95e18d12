package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

func TestProviderLifecycleAndHint(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	tok := s.token("acct_a")
	p := s.createProvider(tok)
	if p.Carrier != "twilio" || p.Label != "Main" || p.Hint != "AC…5f6a" {
		t.Fatalf("unexpected provider %+v", p)
	}
	var conn struct {
		TotalCount int
		Edges      []struct{ Node providerOut }
	}
	s.post(tok, `{ providers { totalCount edges { node { id carrier label hint } } } }`, nil).into(t, "providers", &conn)
	if conn.TotalCount != 1 || conn.Edges[0].Node != p {
		t.Fatalf("providers = %+v, want just %+v", conn, p)
	}
	var id string
	s.post(tok, `mutation($id: ID!) { deleteProvider(id: $id) }`, map[string]any{"id": p.ID}).into(t, "deleteProvider", &id)
	if id != p.ID {
		t.Fatalf("deleteProvider returned %q", id)
	}
	s.post(tok, `{ providers { totalCount } }`, nil).into(t, "providers", &conn)
	if conn.TotalCount != 0 {
		t.Fatalf("provider still listed after delete: %+v", conn)
	}
}

func TestDuplicateE164IsConflict(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	a, b := s.token("acct_a"), s.token("acct_b")
	pa, pb := s.createProvider(a), s.createProvider(b)
	s.createNumber(a, pa.ID, "+14155550100", nil)
	for _, tc := range []struct {
		name, token, provider string
	}{{"same account", a, pa.ID}, {"another account", b, pb.ID}} {
		res := s.post(tc.token, createNumberOp, map[string]any{"in": map[string]any{"e164": "+14155550100", "providerID": tc.provider}})
		if code := res.code(t); code != "CONFLICT" || !contains(res.Errors[0].Message, "+14155550100 is already registered") {
			t.Errorf("%s: got %s %q, want CONFLICT naming the number", tc.name, code, res.Errors[0].Message)
		}
	}
}

func TestDeleteProviderInUseIsConflictAndKeepsIt(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	tok := s.token("acct_a")
	p := s.createProvider(tok)
	s.createNumber(tok, p.ID, "+14155550101", nil)
	s.createNumber(tok, p.ID, "+14155550102", nil)

	res := s.post(tok, `mutation($id: ID!) { deleteProvider(id: $id) }`, map[string]any{"id": p.ID})
	if code := res.code(t); code != "CONFLICT" || !contains(res.Errors[0].Message, "used by 2 phone number(s)") {
		t.Fatalf("got %s %q, want CONFLICT naming 2 numbers", code, res.Errors[0].Message)
	}
	var node struct{ ID string }
	s.post(tok, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": p.ID}).into(t, "node", &node)
	if node.ID != p.ID {
		t.Fatalf("provider gone after a refused delete: %+v", node)
	}
}

func TestCreateProviderRejectsBadCredentials(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	tok := s.token("acct_a")
	for _, tc := range []struct {
		name        string
		carrier     string
		credentials any
		field       string
		says        string
	}{
		{"half a credential", "twilio", map[string]any{"account_sid": twilioSID}, "credentials.auth_token", "auth_token"},
		{"missing id", "plivo", map[string]any{"auth_token": "abc"}, "credentials.auth_id", "auth_id"},
		{"typo", "twilio", map[string]any{"acount_sid": twilioSID, "auth_token": twilioToken}, "credentials.acount_sid", `did you mean "account_sid"`},
		{"malformed sid", "twilio", map[string]any{"account_sid": "AC123", "auth_token": twilioToken}, "credentials.account_sid", "32 hexadecimal"},
		{"not an object", "vobiz", []any{"a", "b"}, "credentials", "JSON object"},
		{"unknown carrier", "acme-telecom", map[string]any{}, "carrier", "plivo, sandbox, twilio, vobiz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := s.post(tok, createProviderOp, map[string]any{"in": map[string]any{
				"carrier": tc.carrier, "label": "x", "credentials": tc.credentials,
			}})
			if code, field := res.code(t), res.field(t); code != "BAD_USER_INPUT" || field != tc.field {
				t.Fatalf("got %s on %q, want BAD_USER_INPUT on %q", code, field, tc.field)
			}
			if msg := res.Errors[0].Message; !contains(msg, tc.says) || contains(msg, twilioToken) {
				t.Fatalf("message %q should mention %q and never the token", msg, tc.says)
			}
		})
	}
	var conn struct{ TotalCount int }
	s.post(tok, `{ providers { totalCount } }`, nil).into(t, "providers", &conn)
	if conn.TotalCount != 0 {
		t.Fatalf("a rejected provider was stored: %d", conn.TotalCount)
	}
}

func TestCreatePhoneNumberValidatesE164(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	tok := s.token("acct_a")
	p := s.createProvider(tok)
	for _, bad := range []string{"12025550123", "+02025550123", "+1 2025550123", "+1202555012345678", "+1234567890123456", "", "+1202-555-0123"} {
		res := s.post(tok, createNumberOp, map[string]any{"in": map[string]any{"e164": bad, "providerID": p.ID}})
		if code, field := res.code(t), res.field(t); code != "BAD_USER_INPUT" || field != "e164" {
			t.Errorf("%q: got %s on %q, want BAD_USER_INPUT on e164", bad, code, field)
		} else if !contains(res.Errors[0].Message, "+14155550123") {
			t.Errorf("%q: message %q shows no accepted example", bad, res.Errors[0].Message)
		}
	}
}

func TestCreatePhoneNumberWithUnknownProviderIsNotFound(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	tok := s.token("acct_a")
	for _, id := range []string{"prov_01JD0000000000000000000000", "not-an-id", "pn_01JD0000000000000000000000"} {
		res := s.post(tok, createNumberOp, map[string]any{"in": map[string]any{"e164": "+14155550103", "providerID": id}})
		if code := res.code(t); code != "NOT_FOUND" {
			t.Errorf("providerID %q: got %s (%s), want NOT_FOUND", id, code, res.Errors[0].Message)
		}
	}
}

func TestPinUnpinToggleAndFilterByAgent(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	tok := s.token("acct_a")
	p := s.createProvider(tok)
	n1 := s.createNumber(tok, p.ID, "+14155550111", "agent-1")
	n2 := s.createNumber(tok, p.ID, "+14155550112", nil)
	s.createNumber(tok, p.ID, "+14155550113", "agent-2")
	if n1.AgentID == nil || *n1.AgentID != "agent-1" || !n1.InboundEnabled || !n1.OutboundEnabled || n2.AgentID != nil {
		t.Fatalf("unexpected numbers %+v %+v", n1, n2)
	}

	var got numberOut
	// Pin n2; toggles omitted stay as they were.
	s.post(tok, updateNumberOp, map[string]any{"id": n2.ID, "in": map[string]any{"agentID": "agent-1"}}).into(t, "updatePhoneNumber", &got)
	if got.AgentID == nil || *got.AgentID != "agent-1" || !got.InboundEnabled || !got.OutboundEnabled {
		t.Fatalf("after pin: %+v", got)
	}
	// Toggle inbound off; the pin, omitted, stays.
	s.post(tok, updateNumberOp, map[string]any{"id": n2.ID, "in": map[string]any{"inboundEnabled": false}}).into(t, "updatePhoneNumber", &got)
	if got.AgentID == nil || got.InboundEnabled || !got.OutboundEnabled {
		t.Fatalf("after toggle: %+v", got)
	}

	agentNumbers := func(agent string) []string {
		var conn struct{ Edges []struct{ Node numberOut } }
		s.post(tok, `query($a: String) { phoneNumbers(where: {agentID: $a}, orderBy: {field: E164}) { edges { node { e164 } } } }`,
			map[string]any{"a": agent}).into(t, "phoneNumbers", &conn)
		var out []string
		for _, e := range conn.Edges {
			out = append(out, e.Node.E164)
		}
		return out
	}
	if got := fmt.Sprint(agentNumbers("agent-1")); got != "[+14155550111 +14155550112]" {
		t.Fatalf("agent-1 numbers = %s", got)
	}

	// Unpin with an explicit null: the pin is really cleared, in the answer and in storage.
	s.post(tok, updateNumberOp, map[string]any{"id": n2.ID, "in": map[string]any{"agentID": nil}}).into(t, "updatePhoneNumber", &got)
	if got.AgentID != nil {
		t.Fatalf("unpin left agentID = %q", *got.AgentID)
	}
	if got := fmt.Sprint(agentNumbers("agent-1")); got != "[+14155550111]" {
		t.Fatalf("agent-1 numbers after unpin = %s", got)
	}
	var unpinned struct{ Edges []struct{ Node numberOut } }
	s.post(tok, `{ phoneNumbers(where: {agentIDIsNil: true}) { edges { node { e164 agentID } } } }`, nil).into(t, "phoneNumbers", &unpinned)
	if len(unpinned.Edges) != 1 || unpinned.Edges[0].Node.E164 != "+14155550112" {
		t.Fatalf("unpinned numbers = %+v", unpinned)
	}

	for _, tc := range []struct {
		in    map[string]any
		field string
	}{
		{map[string]any{"agentID": ""}, "agentID"},
		{map[string]any{"inboundEnabled": nil}, "inboundEnabled"},
	} {
		res := s.post(tok, updateNumberOp, map[string]any{"id": n1.ID, "in": tc.in})
		if code, field := res.code(t), res.field(t); code != "BAD_USER_INPUT" || field != tc.field {
			t.Errorf("%v: got %s on %q, want BAD_USER_INPUT on %s", tc.in, code, field, tc.field)
		}
	}

	var deleted string
	s.post(tok, `mutation($id: ID!) { deletePhoneNumber(id: $id) }`, map[string]any{"id": n1.ID}).into(t, "deletePhoneNumber", &deleted)
	if res := s.post(tok, `mutation($id: ID!) { deletePhoneNumber(id: $id) }`, map[string]any{"id": n1.ID}); res.code(t) != "NOT_FOUND" {
		t.Fatalf("second delete: %+v", res.Errors)
	}
}

func TestCallLimits(t *testing.T) {
	s := startServer(t, t.TempDir(), map[string]string{"SWITCHBOARD_DEFAULT_DAILY_MINUTES_MAX": "unlimited"})
	tok := s.token("acct_a")
	type limits struct{ ConcurrentMax, CallsPerMinute, DailyCallsMax, DailyMinutesMax *int }
	const sel = `{ concurrentMax callsPerMinute dailyCallsMax dailyMinutesMax }`
	show := func(l limits) string {
		f := func(p *int) string {
			if p == nil {
				return "null"
			}
			return fmt.Sprint(*p)
		}
		return strings.Join([]string{f(l.ConcurrentMax), f(l.CallsPerMinute), f(l.DailyCallsMax), f(l.DailyMinutesMax)}, " ")
	}
	var l limits
	s.post(tok, `{ callLimits `+sel+` }`, nil).into(t, "callLimits", &l)
	if got := show(l); got != "10 60 1000 null" {
		t.Fatalf("defaults = %s", got)
	}
	update := func(in map[string]any) string {
		var l limits
		s.post(tok, `mutation($in: UpdateCallLimitsInput!) { updateCallLimits(input: $in) `+sel+` }`, map[string]any{"in": in}).into(t, "updateCallLimits", &l)
		var again limits
		s.post(tok, `{ callLimits `+sel+` }`, nil).into(t, "callLimits", &again)
		if show(l) != show(again) {
			t.Fatalf("updateCallLimits answered %s but callLimits reads %s", show(l), show(again))
		}
		return show(l)
	}
	// First change: starts from the defaults; omitted stay, null removes, 0 blocks.
	if got := update(map[string]any{"concurrentMax": 3, "callsPerMinute": nil}); got != "3 null 1000 null" {
		t.Fatalf("after first update = %s", got)
	}
	if got := update(map[string]any{"dailyCallsMax": 0}); got != "3 null 0 null" {
		t.Fatalf("after kill switch = %s", got)
	}
	if got := update(map[string]any{}); got != "3 null 0 null" {
		t.Fatalf("empty update changed limits: %s", got)
	}
	res := s.post(tok, `mutation { updateCallLimits(input: {concurrentMax: -1}) { concurrentMax } }`, nil)
	if code, field := res.code(t), res.field(t); code != "BAD_USER_INPUT" || field != "concurrentMax" {
		t.Fatalf("negative limit: %s on %q", code, field)
	}
	// Another account still sees the defaults.
	s.post(s.token("acct_b"), `{ callLimits `+sel+` }`, nil).into(t, "callLimits", &l)
	if got := show(l); got != "10 60 1000 null" {
		t.Fatalf("acct_b limits = %s", got)
	}
}

func TestConcurrentLimitUpdatesOfDifferentDimensionsBothLand(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	tok := s.token("acct_a")
	var wg sync.WaitGroup
	errs := make(chan string, 2)
	for _, in := range []map[string]any{{"concurrentMax": 7}, {"dailyCallsMax": 77}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if res := s.post(tok, `mutation($in: UpdateCallLimitsInput!) { updateCallLimits(input: $in) { concurrentMax } }`, map[string]any{"in": in}); len(res.Errors) > 0 {
				errs <- fmt.Sprint(res.Errors)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	var l struct{ ConcurrentMax, DailyCallsMax int }
	s.post(tok, `{ callLimits { concurrentMax dailyCallsMax } }`, nil).into(t, "callLimits", &l)
	if l.ConcurrentMax != 7 || l.DailyCallsMax != 77 {
		t.Fatalf("a concurrent update was lost: %+v", l)
	}
}

func TestNodeLookups(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	tok := s.token("acct_a")
	p := s.createProvider(tok)
	n := s.createNumber(tok, p.ID, "+14155550120", "agent-9")
	var nodes []map[string]any
	s.post(tok, `query($ids: [ID!]!) { nodes(ids: $ids) { __typename id ... on PhoneNumber { e164 provider { hint } } ... on Provider { label } } }`,
		map[string]any{"ids": []string{n.ID, p.ID}}).into(t, "nodes", &nodes)
	raw, _ := json.Marshal(nodes)
	want := fmt.Sprintf(`[{"__typename":"PhoneNumber","e164":"+14155550120","id":%q,"provider":{"hint":"AC…5f6a"}},{"__typename":"Provider","id":%q,"label":"Main"}]`, n.ID, p.ID)
	if string(raw) != want {
		t.Fatalf("nodes = %s\nwant    %s", raw, want)
	}
	for _, id := range []string{"garbage", "prov_01JD0000000000000000000000"} {
		res := s.post(tok, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id})
		if code := res.code(t); code != "NOT_FOUND" || string(res.Data["node"]) != "null" {
			t.Errorf("node(%q): %s, data %s; want NOT_FOUND and null", id, code, res.Data["node"])
		}
	}
}

// TestRequestMistakesAreBadUserInput: errors in the request that gqlgen and entgql detect are
// the caller's to fix, never INTERNAL.
func TestRequestMistakesAreBadUserInput(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	tok := s.token("acct_a")
	for _, q := range []string{
		`{ providers(after: "garbage") { totalCount } }`,
		`{ providers(first: -1) { totalCount } }`,
		`{ providers(first: 1, last: 1) { totalCount } }`,
		`{ phoneNumbers(where: {e164: 5}) { totalCount } }`,
		`{ nosuch }`,
		`{ providers { totalCount `,
	} {
		if res := s.post(tok, q, nil); res.code(t) != "BAD_USER_INPUT" {
			t.Errorf("%s: %+v", q, res.Errors)
		}
	}
	if res := s.post(tok, `query($n: Int) { providers(first: $n) { totalCount } }`, map[string]any{"n": "x"}); res.code(t) != "BAD_USER_INPUT" {
		t.Errorf("bad variable: %+v", res.Errors)
	}
}

// TestDeleteProviderRacingCreateNumberLeavesNoOrphan: whichever wins, no number points at a
// deleted provider (the foreign key decides, not a check before the write).
func TestDeleteProviderRacingCreateNumberLeavesNoOrphan(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	tok := s.token("acct_a")
	for i := 0; i < 20; i++ {
		p := s.createProvider(tok)
		var wg sync.WaitGroup
		var created, deleted gqlResponse
		wg.Add(2)
		go func() {
			defer wg.Done()
			created = s.post(tok, createNumberOp, map[string]any{"in": map[string]any{"e164": fmt.Sprintf("+1415555%04d", i), "providerID": p.ID}})
		}()
		go func() {
			defer wg.Done()
			deleted = s.post(tok, `mutation($id: ID!) { deleteProvider(id: $id) }`, map[string]any{"id": p.ID})
		}()
		wg.Wait()
		switch {
		case len(created.Errors) == 0 && len(deleted.Errors) == 1 && deleted.code(t) == "CONFLICT":
		case len(deleted.Errors) == 0 && len(created.Errors) == 1 && created.code(t) == "NOT_FOUND":
		default:
			t.Fatalf("round %d: create %+v, delete %+v", i, created.Errors, deleted.Errors)
		}
	}
	var conn struct {
		TotalCount int
		Edges      []struct {
			Node struct{ Provider *struct{ ID string } }
		}
	}
	s.post(tok, `{ phoneNumbers(first: 100) { totalCount edges { node { provider { id } } } } }`, nil).into(t, "phoneNumbers", &conn)
	for _, e := range conn.Edges {
		if e.Node.Provider == nil {
			t.Fatal("a number points at a deleted provider")
		}
	}
}

func TestInputEdgeCases(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	wide := s.token("acct_" + strings.Repeat("é", 100)) // 105 characters, 205 bytes: a valid account
	p := s.createProvider(wide)

	// Limits count characters, not bytes.
	var got providerOut
	s.post(wide, createProviderOp, map[string]any{"in": map[string]any{"carrier": "twilio", "label": strings.Repeat("é", 100), "credentials": twilioCredentials()}}).into(t, "createProvider", &got)
	n := s.createNumber(wide, p.ID, "+14155550160", strings.Repeat("é", 128))
	if n.AgentID == nil || len([]rune(*n.AgentID)) != 128 {
		t.Fatalf("agentID of 128 characters: %+v", n)
	}
	for _, tc := range []struct {
		op    string
		in    map[string]any
		field string
	}{
		{createProviderOp, map[string]any{"carrier": "twilio", "label": strings.Repeat("é", 101), "credentials": twilioCredentials()}, "label"},
		{createProviderOp, map[string]any{"carrier": "twilio", "label": "a\x00b", "credentials": twilioCredentials()}, "label"},
		{createNumberOp, map[string]any{"e164": "+14155550161", "providerID": p.ID, "agentID": strings.Repeat("é", 129)}, "agentID"},
		{createNumberOp, map[string]any{"e164": "+14155550161", "providerID": p.ID, "agentID": "a\x00"}, "agentID"},
	} {
		res := s.post(wide, tc.op, map[string]any{"in": tc.in})
		if code, field := res.code(t), res.field(t); code != "BAD_USER_INPUT" || field != tc.field {
			t.Errorf("%v: %s on %q, want BAD_USER_INPUT on %s", tc.in, code, field, tc.field)
		}
	}

	// Empty filters, as frontends that build them dynamically send them.
	for _, q := range []string{
		`{ phoneNumbers(where: {not: {}}) { totalCount } }`,
		`{ phoneNumbers(where: {and: [{}]}) { totalCount } }`,
		`{ phoneNumbers(where: {hasProviderWith: [{}]}) { totalCount } }`,
		`{ providers { edges { node { numbers(where: {not: {}}) { totalCount } } } } }`,
	} {
		res := s.post(wide, q, nil)
		if len(res.Errors) == 0 || res.Errors[0].Extensions["code"] != "BAD_USER_INPUT" || res.Errors[0].Extensions["field"] != "where" {
			t.Errorf("%s: %+v", q, res.Errors)
		}
	}
}

// TestMalformedBodyIsNotEchoed: gqlgen quotes the whole body in its decoding error; the body may
// carry credentials, so the answer must not.
func TestMalformedBodyIsNotEchoed(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	vars, _ := json.Marshal(map[string]any{"c": twilioCredentials()})
	body, _ := json.Marshal(map[string]any{"query": createProviderOp, "variables": string(vars)}) // variables encoded twice
	req, _ := http.NewRequest(http.MethodPost, s.http.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.token("acct_a"))
	res := s.send(req)
	if res.code(t) != "BAD_USER_INPUT" || strings.Contains(res.Errors[0].Message, twilioToken) || !strings.Contains(res.Errors[0].Message, "could not be decoded") {
		t.Fatalf("got %+v", res.Errors)
	}
}
