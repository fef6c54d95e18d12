package app

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/switchboard-dev/switchboard/auth"
	"github.com/switchboard-dev/switchboard/ent"
	"github.com/switchboard-dev/switchboard/graph"
)

// dbCounter counts the Ent queries and mutations the server runs, through an interceptor and a
// hook on its client. The test server has no background work, so every count comes from a
// request.
type dbCounter struct {
	t                  *testing.T
	queries, mutations atomic.Int64
}

func countDB(s *testServer) *dbCounter {
	c := &dbCounter{t: s.t}
	s.app.client.Intercept(ent.InterceptFunc(func(next ent.Querier) ent.Querier {
		return ent.QuerierFunc(func(ctx context.Context, q ent.Query) (ent.Value, error) {
			c.queries.Add(1)
			return next.Query(ctx, q)
		})
	}))
	s.app.client.Use(func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			c.mutations.Add(1)
			return next.Mutate(ctx, m)
		})
	})
	return c
}

// untouched fails the test if the database was queried or written while do ran.
func (c *dbCounter) untouched(name string, do func()) {
	c.t.Helper()
	q, m := c.queries.Load(), c.mutations.Load()
	do()
	if dq, dm := c.queries.Load()-q, c.mutations.Load()-m; dq != 0 || dm != 0 {
		c.t.Errorf("%s: refused, yet the database saw %d queries and %d mutations", name, dq, dm)
	}
}

// refusedWith checks for exactly one BAD_USER_INPUT error whose message contains want.
func refusedWith(t *testing.T, name string, res gqlResponse, status int, want string) {
	t.Helper()
	if res.Status != status || len(res.Errors) != 1 || res.Errors[0].Extensions["code"] != "BAD_USER_INPUT" || !strings.Contains(res.Errors[0].Message, want) {
		t.Errorf("%s: got %d %+v; want %d and one BAD_USER_INPUT containing %q", name, res.Status, res.Errors, status, want)
	}
	for k, v := range res.Data {
		if string(v) != "null" {
			t.Errorf("%s: refused, yet data.%s = %s", name, k, v)
		}
	}
}

// aliased is a selection of n aliases of field.
func aliased(n int, field string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, " a%d: %s", i, field)
	}
	return b.String()
}

// TestAbusiveQueriesAreRefusedBeforeAnyDatabaseQuery: too deep, pages too large, aliases and
// nested pages that multiply work, and batches of mutations are refused with BAD_USER_INPUT
// naming the limit, before a resolver runs: the database sees nothing.
func TestAbusiveQueriesAreRefusedBeforeAnyDatabaseQuery(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	tok := s.token("acct_a")
	p := s.createProvider(tok)
	s.createNumber(tok, p.ID, "+14155550180", "agent-1")
	s.createSandboxNumber(tok, "+14155550181", map[string]any{"ring_seconds": "0.05", "talk_seconds": "0.05"})
	db := countDB(s)

	// The counter sees what an accepted query does.
	var conn struct{ TotalCount int }
	s.post(tok, `{ phoneNumbers(first: 1) { totalCount } }`, nil).into(t, "phoneNumbers", &conn)
	if conn.TotalCount != 2 || db.queries.Load() == 0 {
		t.Fatalf("control query: %+v, %d database queries", conn, db.queries.Load())
	}

	deep := `{ phoneNumbers(first: 1) { edges { node { provider { numbers(first: 1) { edges { node { provider { numbers(first: 1) { edges { node { provider { id } } } } } } } } } } } } }`
	in := map[string]any{"from": "+14155550181", "to": "+14155550199"}
	for _, tc := range []struct {
		name, query string
		vars        map[string]any
		want        string
		status      int // gqlgen answers a document it cannot parse with 422, other refusals with 200
	}{
		{"deep", deep, nil, fmt.Sprintf("the operation is nested 13 levels deep; the most this server accepts is %d", graph.DefaultDepthLimit), 0},
		{"huge page", `{ phoneNumbers(first: 100000) { edges { node { id } } } }`, nil, "first on phoneNumbers is 100000; a page holds at most 100 items", 0},
		{"huge page in a variable", `query($n: Int) { providers { edges { node { numbers(last: $n) { totalCount } } } } }`, map[string]any{"n": 5000}, "last on numbers is 5000; a page holds at most 100 items", 0},
		{"nested default pages", `{ providers { edges { node { numbers { edges { node { calls { edges { node { id } } } } } } } } } }`, nil,
			fmt.Sprintf("the operation's complexity is 2030302; the most this server accepts is %d", graph.DefaultComplexityLimit), 0},
		{"200 aliases of a page", "{" + aliased(200, `phoneNumbers(first: 100) { edges { node { provider { id } } } }`) + " }", nil,
			fmt.Sprintf("exceeded token limit of %d", graph.DefaultTokenLimit), http.StatusUnprocessableEntity},
		{"60 originateCalls", "mutation($in: OriginateCallInput!) {" + aliased(60, `originateCall(input: $in) { id }`) + " }", map[string]any{"in": in},
			fmt.Sprintf("the operation's complexity is %d", 60*(graph.MutationCost+1)), 0},
		{"a deep query without a token", deep, nil, "nested 13 levels deep", 0},
	} {
		token := tok
		if strings.Contains(tc.name, "without a token") {
			token = ""
		}
		status := cmp.Or(tc.status, http.StatusOK)
		db.untouched(tc.name, func() { refusedWith(t, tc.name, s.post(token, tc.query, tc.vars), status, tc.want) })
	}

	// With the token limit out of the way, complexity counts the aliases and mutations too.
	big := startServer(t, t.TempDir(), map[string]string{"SWITCHBOARD_MAX_TOKENS": "100000"})
	bigTok := big.token("acct_a")
	big.createSandboxNumber(bigTok, "+14155550181", map[string]any{"ring_seconds": "0.05", "talk_seconds": "0.05"})
	bigDB := countDB(big)
	bigDB.untouched("200 aliases", func() {
		refusedWith(t, "200 aliases", big.post(bigTok, "{"+aliased(200, `phoneNumbers(first: 100) { edges { node { provider { id } } } }`)+" }", nil),
			http.StatusOK, "the operation's complexity is 60400;")
	})
	bigDB.untouched("500 originateCalls", func() {
		refusedWith(t, "500 originateCalls", big.post(bigTok, "mutation($in: OriginateCallInput!) {"+aliased(500, `originateCall(input: $in) { id }`)+" }", map[string]any{"in": in}),
			http.StatusOK, fmt.Sprintf("the operation's complexity is %d;", 500*(graph.MutationCost+1)))
	})
	var usage struct{ CallsToday, Concurrent int }
	big.post(bigTok, `{ usage { callsToday concurrent } }`, nil).into(t, "usage", &usage)
	var calls struct{ TotalCount int }
	big.post(bigTok, `{ calls { totalCount } }`, nil).into(t, "calls", &calls)
	if usage.CallsToday != 0 || usage.Concurrent != 0 || calls.TotalCount != 0 {
		t.Fatalf("refused originateCalls left usage %+v and %d calls", usage, calls.TotalCount)
	}
}

// TestBatchesRunNothing: a JSON array of operations is refused whole, a document of several
// operations needs operationName, and only the named one runs.
func TestBatchesRunNothing(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	tok := s.token("acct_a")
	db := countDB(s)
	raw := func(body string) gqlResponse {
		req, _ := http.NewRequest(http.MethodPost, s.http.URL+"/graphql", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		return s.send(req)
	}
	limitsOp := func(n int) string {
		return fmt.Sprintf(`{"query": "mutation { updateCallLimits(input: {concurrentMax: %d}) { concurrentMax } }"}`, n)
	}
	for _, body := range []string{
		"[" + limitsOp(1) + "," + limitsOp(2) + "]",
		" \n\t[" + strings.TrimSuffix(strings.Repeat(limitsOp(3)+",", 100), ",") + "]",
	} {
		db.untouched("a JSON array", func() {
			refusedWith(t, "a JSON array", raw(body), http.StatusBadRequest, "batched operations (a JSON array) are not accepted: send each operation in a request of its own")
		})
	}

	var doc strings.Builder
	for i := range 20 {
		fmt.Fprintf(&doc, "mutation M%d { updateCallLimits(input: {concurrentMax: %d}) { concurrentMax } }\n", i, 100+i)
	}
	db.untouched("20 operations", func() {
		res := s.post(tok, doc.String(), nil)
		refusedWith(t, "20 operations", res, http.StatusUnprocessableEntity, "the document holds 20 operations and one request runs one: name it in operationName")
	})
	var l struct{ ConcurrentMax int }
	s.post(tok, `{ callLimits { concurrentMax } }`, nil).into(t, "callLimits", &l)
	if l.ConcurrentMax != 10 {
		t.Fatalf("a refused batch changed the limits: %+v", l)
	}

	// Each operation sets its own value: had the others run too, the last would show.
	body, _ := json.Marshal(map[string]any{"query": doc.String(), "operationName": "M7"})
	var set struct{ ConcurrentMax int }
	raw(string(body)).into(t, "updateCallLimits", &set)
	s.post(tok, `{ callLimits { concurrentMax } }`, nil).into(t, "callLimits", &l)
	if set.ConcurrentMax != 107 || l.ConcurrentMax != 107 {
		t.Fatalf("operationName M7 answered %+v and left %+v; want 107", set, l)
	}
}

// TestOversizedRequestsAreRefused: the body limit holds for chunked bodies, which announce no
// length, and for GET query strings; a long string in variables that fit is refused by the
// input's own validation, in a message that does not repeat it.
func TestOversizedRequestsAreRefused(t *testing.T) {
	s := startServer(t, t.TempDir(), map[string]string{"SWITCHBOARD_MAX_BODY_BYTES": "2048"})
	tok := s.token("acct_a")
	db := countDB(s)
	chunked := func(body string) gqlResponse {
		req, _ := http.NewRequest(http.MethodPost, s.http.URL+"/graphql", io.MultiReader(strings.NewReader(body)))
		req.ContentLength = -1
		req.TransferEncoding = []string{"chunked"}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		return s.send(req)
	}
	get := func(query string) gqlResponse {
		req, _ := http.NewRequest(http.MethodGet, s.http.URL+"/graphql?query="+url.QueryEscape(query), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		return s.send(req)
	}
	var list []struct{ ID string }
	chunked(`{"query": "{ carriers { id } }"}`).into(t, "carriers", &list)
	get(`{ carriers { id } }`).into(t, "carriers", &list)
	if len(list) == 0 {
		t.Fatal("no carriers")
	}
	long := `{ providers { totalCount } }` + strings.Repeat(" ", 4096)
	db.untouched("chunked", func() {
		body, _ := json.Marshal(map[string]any{"query": long})
		refusedWith(t, "chunked", chunked(string(body)), http.StatusRequestEntityTooLarge, "the request body is more than 2048 bytes, the most this server accepts")
	})
	db.untouched("GET", func() {
		want := fmt.Sprintf("the query string is %d bytes; the most this server accepts is 2048: send the operation as a POST body instead", len("query="+url.QueryEscape(long)))
		refusedWith(t, "GET", get(long), http.StatusRequestURITooLong, want)
	})

	// Within the default 1 MiB: variables are parsed, unused ones ignored, and the inputs' own
	// checks refuse a 100 KB string before anything is stored, without quoting it.
	s = startServer(t, t.TempDir(), nil)
	tok = s.token("acct_a")
	pad := strings.Repeat("x", 900_000)
	var carriers []struct{ ID string }
	s.post(tok, `{ carriers { id } }`, map[string]any{"unused": pad}).into(t, "carriers", &carriers)
	p := s.createProvider(tok)
	db = countDB(s)
	huge := strings.Repeat("y", 100_000)
	for _, tc := range []struct {
		op    string
		in    map[string]any
		field string
	}{
		{createProviderOp, map[string]any{"carrier": "twilio", "label": huge, "credentials": twilioCredentials()}, "label"},
		{createProviderOp, map[string]any{"carrier": "twilio", "label": "x", "credentials": map[string]any{"account_sid": huge, "auth_token": twilioToken}}, "credentials"},
		{createNumberOp, map[string]any{"e164": huge, "providerID": p.ID}, "e164"},
		{createNumberOp, map[string]any{"e164": "+14155550182", "providerID": p.ID, "agentID": huge}, "agentID"},
	} {
		res := s.post(tok, tc.op, map[string]any{"in": tc.in})
		if code, field := res.code(t), res.field(t); code != "BAD_USER_INPUT" || field != tc.field || len(res.Errors[0].Message) > 300 {
			t.Errorf("100 KB %s: %s on %q: %.400s", tc.field, code, field, res.Errors[0].Message)
		}
	}
	if m := db.mutations.Load(); m != 0 {
		t.Errorf("refused inputs reached the database: %d mutations", m)
	}

	// Filters have no validation of their own: the databases would refuse these (a pattern too
	// complex, too many parameters, an expression too deep), which the caller would see as INTERNAL.
	var deep any = map[string]any{"agentID": "a"}
	for range 5000 {
		deep = map[string]any{"not": deep}
	}
	for _, tc := range []struct {
		name, typ, where string
		value            any
		want             string
	}{
		{"a 900 KB pattern", "String", "{agentIDContains: $v}", strings.Repeat("a", 900_000), "where.agentIDContains is 900000 bytes long; a filter accepts strings of at most 1000 bytes"},
		{"90000 values", "[String!]", "{agentIDIn: $v}", strings.Split(strings.Repeat("a,", 89_999)+"a", ","), "where.agentIDIn holds 90000 items; a list may hold at most 1000"},
		{"5000 nots", "PhoneNumberWhereInput", "$v", deep, "where" + strings.Repeat(".not", 20) + " nests deeper than 20 levels"},
	} {
		q := fmt.Sprintf("query($v: %s) { phoneNumbers(where: %s) { totalCount } }", tc.typ, tc.where)
		db.untouched(tc.name, func() { refusedWith(t, tc.name, s.post(tok, q, map[string]any{"v": tc.value}), http.StatusOK, tc.want) })
	}
}

// TestIntrospectionOff: with SWITCHBOARD_INTROSPECTION=false, __schema and __type are refused
// for everyone and the playground says why it is not there; data queries work as before.
func TestIntrospectionOff(t *testing.T) {
	s := startServer(t, t.TempDir(), map[string]string{"SWITCHBOARD_INTROSPECTION": "false"})
	tok := s.token("acct_a")
	for _, token := range []string{"", tok} {
		for _, q := range []string{`{ __schema { queryType { name } } }`, `{ __type(name: "Provider") { fields { name } } }`} {
			refusedWith(t, q, s.post(token, q, nil), http.StatusOK, "introspection is turned off on this server")
		}
	}
	var conn struct{ TotalCount int }
	s.post(tok, `{ __typename providers { totalCount } }`, nil).into(t, "providers", &conn)
	res, err := http.Get(s.http.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound || !strings.Contains(string(page), "it needs introspection, which this server has turned off") || strings.Contains(string(page), "Bearer") {
		t.Fatalf("playground with introspection off: %d %s", res.StatusCode, page)
	}

	on := startServer(t, t.TempDir(), nil)
	var schema struct{ QueryType struct{ Name string } }
	on.post("", `{ __schema { queryType { name } } }`, nil).into(t, "__schema", &schema)
	if schema.QueryType.Name != "Query" {
		t.Fatalf("introspection on: %+v", schema)
	}
}

// TestBadTokensAreUnauthenticated signs tokens wrong in every way, over HTTP and over the
// websocket transport, on a server that checks the issuer and audience.
func TestBadTokensAreUnauthenticated(t *testing.T) {
	const issuer, audience = "https://id.example.com/", "switchboard-api"
	s := startServer(t, t.TempDir(), map[string]string{"SWITCHBOARD_JWT_ISSUER": issuer, "SWITCHBOARD_JWT_AUDIENCE": audience})
	secret := mustSecret(t, s)
	now := time.Now()
	claims := func(change func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"account_id": "acct_a", "iss": issuer, "aud": audience, "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
		if change != nil {
			change(c)
		}
		return c
	}
	sign := func(method jwt.SigningMethod, key any, c jwt.MapClaims) string {
		tok, err := jwt.NewWithClaims(method, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	valid := sign(jwt.SigningMethodHS256, secret, claims(nil))
	var conn struct{ TotalCount int }
	s.post(valid, `{ providers { totalCount } }`, nil).into(t, "providers", &conn)

	forgedPayload, _ := json.Marshal(claims(func(c jwt.MapClaims) { c["account_id"] = "acct_b" }))
	validParts := strings.Split(valid, ".")
	bad := map[string]string{
		"expired":             sign(jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() })),
		"not yet valid":       sign(jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() })),
		"no exp":              sign(jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { delete(c, "exp") })),
		"another secret":      sign(jwt.SigningMethodHS256, []byte("another-secret-another-secret-32b"), claims(nil)),
		"a forged payload":    validParts[0] + "." + base64.RawURLEncoding.EncodeToString(forgedPayload) + "." + validParts[2],
		"no signature":        validParts[0] + "." + validParts[1] + ".",
		"alg none":            sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil)),
		"alg HS512":           sign(jwt.SigningMethodHS512, secret, claims(nil)),
		"another audience":    sign(jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { c["aud"] = "someone-else" })),
		"no audience":         sign(jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { delete(c, "aud") })),
		"another issuer":      sign(jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example.net/" })),
		"no issuer":           sign(jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { delete(c, "iss") })),
		"no account_id":       sign(jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { delete(c, "account_id") })),
		"empty account_id":    sign(jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { c["account_id"] = "" })),
		"numeric account_id":  sign(jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { c["account_id"] = 42 })),
		"no scope it knows":   sign(jwt.SigningMethodHS256, secret, claims(func(c jwt.MapClaims) { c["scope"] = "telephony:admin" })),
		"garbage":             "not.a.jwt",
		"three dots of noise": "eyJ.eyJ.x",
	}
	names := make([]string, 0, len(bad))
	for name := range bad {
		names = append(names, name)
	}
	sort.Strings(names)
	db := countDB(s)
	for _, name := range names {
		tok := bad[name]
		db.untouched(name, func() {
			res := s.post(tok, `{ providers { totalCount } }`, nil)
			if len(res.Errors) != 1 || res.Errors[0].Extensions["code"] != "UNAUTHENTICATED" {
				t.Errorf("%s: got %+v", name, res.Errors)
				return
			}
			for _, part := range strings.Split(tok, ".") {
				if len(part) > 3 && strings.Contains(res.Errors[0].Message, part) {
					t.Errorf("%s: the message echoes the token: %s", name, res.Errors[0].Message)
				}
			}
		})
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	addr := strings.TrimPrefix(s.http.URL, "http://")
	if _, msg := dialGraphQLWS(t, ctx, addr, valid); msg["type"] != "connection_ack" {
		t.Fatalf("websocket with a valid token: %v", msg)
	}
	for _, name := range []string{"expired", "alg none", "another audience", "no account_id", "a forged payload"} {
		if _, msg := dialGraphQLWS(t, ctx, addr, bad[name]); msg["type"] == "connection_ack" {
			t.Errorf("websocket acknowledged a token with %s", name)
		}
	}
}

// TestReadOnlyTokenCannotRunAnyMutation asks the schema for every mutation, so a new one is
// covered without touching this test, and sends each with arguments that pass validation.
func TestReadOnlyTokenCannotRunAnyMutation(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	writer := s.token("acct_a")
	p := s.createProvider(writer)
	n := s.createNumber(writer, p.ID, "+14155550190", "agent-1")
	reader := s.token("acct_a", auth.ScopeRead)

	var schema struct {
		MutationType struct{ Fields []introspectedField }
		Types        []struct {
			Name, Kind  string
			InputFields []introspectedArg
			EnumValues  []struct{ Name string }
		}
	}
	s.post(reader, `{ __schema {
		mutationType { fields { name args { name defaultValue type { ...T } } type { ...T } } }
		types { name kind inputFields { name defaultValue type { ...T } } enumValues { name } } } }
		fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }`, nil).into(t, "__schema", &schema)
	types := map[string]typeInfo{}
	for _, ty := range schema.Types {
		info := typeInfo{kind: ty.Kind, fields: ty.InputFields}
		for _, v := range ty.EnumValues {
			info.enum = append(info.enum, v.Name)
		}
		types[ty.Name] = info
	}
	var names []string
	db := countDB(s)
	for _, f := range schema.MutationType.Fields {
		names = append(names, f.Name)
		var args []string
		for _, a := range f.Args {
			if a.Type.Kind == "NON_NULL" && a.DefaultValue == nil {
				args = append(args, a.Name+": "+literal(types, a.Type, p.ID))
			}
		}
		op := "mutation { " + f.Name
		if len(args) > 0 {
			op += "(" + strings.Join(args, ", ") + ")"
		}
		if k := named(f.Type).Kind; k == "OBJECT" || k == "INTERFACE" {
			op += " { __typename }"
		}
		op += " }"
		db.untouched(f.Name, func() {
			res := s.post(reader, op, nil)
			if len(res.Errors) != 1 || res.Errors[0].Extensions["code"] != "FORBIDDEN" || !strings.Contains(res.Errors[0].Message, auth.ScopeWrite) {
				t.Errorf("%s as a reader: %+v", op, res.Errors)
			}
		})
	}
	sort.Strings(names)
	if got := strings.Join(names, " "); !strings.Contains(got, "createProvider") || !strings.Contains(got, "originateCall") || len(names) < 8 {
		t.Fatalf("the schema lists these mutations: %s", got)
	}

	// Nothing changed.
	var after numberOut
	s.post(reader, `query($id: ID!) { node(id: $id) { ... on PhoneNumber { id e164 providerID agentID inboundEnabled outboundEnabled } } }`, map[string]any{"id": n.ID}).into(t, "node", &after)
	var counts struct {
		Providers, PhoneNumbers, Calls struct{ TotalCount int }
		CallLimits                     struct{ ConcurrentMax int }
	}
	res := s.post(reader, `{ providers { totalCount } phoneNumbers { totalCount } calls { totalCount } callLimits { concurrentMax } }`, nil)
	for key, v := range map[string]any{"providers": &counts.Providers, "phoneNumbers": &counts.PhoneNumbers, "calls": &counts.Calls, "callLimits": &counts.CallLimits} {
		res.into(t, key, v)
	}
	if !sameNumber(after, n) || counts.Providers.TotalCount != 1 || counts.PhoneNumbers.TotalCount != 1 || counts.Calls.TotalCount != 0 || counts.CallLimits.ConcurrentMax != 10 {
		t.Fatalf("after the refused mutations: number %+v, counts %+v", after, counts)
	}
}

func sameNumber(a, b numberOut) bool {
	return a.ID == b.ID && a.E164 == b.E164 && a.ProviderID == b.ProviderID && (a.AgentID == nil) == (b.AgentID == nil) &&
		(a.AgentID == nil || *a.AgentID == *b.AgentID) && a.InboundEnabled == b.InboundEnabled && a.OutboundEnabled == b.OutboundEnabled
}

type introspectedType struct {
	Kind   string
	Name   *string
	OfType *introspectedType
}

type introspectedArg struct {
	Name         string
	DefaultValue *string
	Type         introspectedType
}

type introspectedField struct {
	Name string
	Args []introspectedArg
	Type introspectedType
}

type typeInfo struct {
	kind   string
	fields []introspectedArg
	enum   []string
}

func named(t introspectedType) introspectedType {
	for t.OfType != nil {
		t = *t.OfType
	}
	return t
}

// literal is a GraphQL value of type t that passes validation: required input fields filled,
// IDs set to id.
func literal(types map[string]typeInfo, t introspectedType, id string) string {
	switch t.Kind {
	case "NON_NULL":
		return literal(types, *t.OfType, id)
	case "LIST":
		return "[" + literal(types, *t.OfType, id) + "]"
	}
	name := *t.Name
	info := types[name]
	switch {
	case info.kind == "ENUM":
		return info.enum[0]
	case info.kind == "INPUT_OBJECT":
		var fields []string
		for _, f := range info.fields {
			if f.Type.Kind == "NON_NULL" && f.DefaultValue == nil {
				fields = append(fields, f.Name+": "+literal(types, f.Type, id))
			}
		}
		return "{" + strings.Join(fields, ", ") + "}"
	case name == "Int":
		return "1"
	case name == "Float":
		return "1.5"
	case name == "Boolean":
		return "true"
	case name == "JSON":
		return "{}"
	case name == "ID":
		return fmt.Sprintf("%q", id)
	}
	return `"x"`
}

func TestLimitVariablesAreChecked(t *testing.T) {
	for name, value := range map[string]string{
		"SWITCHBOARD_MAX_DEPTH":      "1",
		"SWITCHBOARD_MAX_TOKENS":     "100",
		"SWITCHBOARD_MAX_COMPLEXITY": "lots",
	} {
		_, err := ConfigFromEnv(func(k string) string {
			if k == name {
				return value
			}
			return ""
		})
		if err == nil || !strings.HasPrefix(err.Error(), name+": want a whole number >= ") {
			t.Errorf("%s=%s: %v", name, value, err)
		}
	}
	cfg := testConfig(t, t.TempDir(), map[string]string{"SWITCHBOARD_MAX_DEPTH": "20", "SWITCHBOARD_MAX_TOKENS": "5000"})
	def := testConfig(t, t.TempDir(), nil)
	if cfg.MaxDepth != 20 || cfg.MaxTokens != 5000 || def.MaxDepth != graph.DefaultDepthLimit || def.MaxTokens != graph.DefaultTokenLimit || def.ComplexityLimit != graph.DefaultComplexityLimit {
		t.Fatalf("set %d/%d, defaults %d/%d/%d", cfg.MaxDepth, cfg.MaxTokens, def.MaxDepth, def.MaxTokens, def.ComplexityLimit)
	}
}

// TestConnectionsWithoutAPageReturnOnePage: a connection asked for without first or last, at the
// top or nested (where Ent loads it eagerly), returns MaxPageSize edges and says there are more;
// last alone is left as asked.
func TestConnectionsWithoutAPageReturnOnePage(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	tok := s.token("acct_a")
	p := s.createProvider(tok)
	const rows = graph.MaxPageSize + 30
	for i := range rows {
		s.createNumber(tok, p.ID, fmt.Sprintf("+1415555%04d", i), nil)
	}

	type page struct {
		TotalCount int
		Edges      []struct{ Node struct{ E164 string } }
		PageInfo   struct{ HasNextPage, HasPreviousPage bool }
	}
	check := func(name string, got page, want int, next bool) {
		t.Helper()
		if got.TotalCount != rows || len(got.Edges) != want || got.PageInfo.HasNextPage != next {
			t.Errorf("%s: totalCount %d, %d edges, hasNextPage %v; want %d, %d, %v", name, got.TotalCount, len(got.Edges), got.PageInfo.HasNextPage, rows, want, next)
		}
		seen := map[string]bool{}
		for _, e := range got.Edges {
			if e.Node.E164 == "" || seen[e.Node.E164] {
				t.Errorf("%s: empty or repeated number %q", name, e.Node.E164)
			}
			seen[e.Node.E164] = true
		}
	}
	const sel = `{ totalCount edges { node { e164 } } pageInfo { hasNextPage hasPreviousPage } }`

	var top page
	s.post(tok, `{ phoneNumbers `+sel+` }`, nil).into(t, "phoneNumbers", &top)
	check("top level", top, graph.MaxPageSize, true)
	s.post(tok, `query($n: Int) { phoneNumbers(first: $n) `+sel+` }`, map[string]any{"n": nil}).into(t, "phoneNumbers", &top)
	check("first: null", top, graph.MaxPageSize, true)

	var providers struct {
		Edges []struct{ Node struct{ Numbers page } }
	}
	s.post(tok, `{ providers(first: 1) { edges { node { numbers `+sel+` } } } }`, nil).into(t, "providers", &providers)
	if len(providers.Edges) != 1 {
		t.Fatalf("%d providers", len(providers.Edges))
	}
	check("nested", providers.Edges[0].Node.Numbers, graph.MaxPageSize, true)
	// The same through a fragment, where the connection's field is written once for both aliases.
	var a, b page
	res := s.post(tok, `{ a: phoneNumbers { ...P } b: phoneNumbers(first: 3) { ...P } } fragment P on PhoneNumberConnection `+sel, nil)
	res.into(t, "a", &a)
	res.into(t, "b", &b)
	check("fragment, no first", a, graph.MaxPageSize, true)
	check("fragment, first: 3", b, 3, true)

	// The next page holds the rest.
	var cursor struct {
		PageInfo struct{ EndCursor string }
	}
	s.post(tok, `{ phoneNumbers { edges { cursor } pageInfo { endCursor } } }`, nil).into(t, "phoneNumbers", &cursor)
	var rest page
	s.post(tok, `query($after: Cursor) { phoneNumbers(after: $after) `+sel+` }`, map[string]any{"after": cursor.PageInfo.EndCursor}).into(t, "phoneNumbers", &rest)
	check("second page", rest, rows-graph.MaxPageSize, false)

	var last page
	s.post(tok, `{ phoneNumbers(last: 5) `+sel+` }`, nil).into(t, "phoneNumbers", &last)
	if len(last.Edges) != 5 || !last.PageInfo.HasPreviousPage || last.PageInfo.HasNextPage {
		t.Errorf("last: 5: %d edges, pageInfo %+v", len(last.Edges), last.PageInfo)
	}
}
