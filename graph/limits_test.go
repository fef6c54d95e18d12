package graph

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/switchboard-dev/switchboard/auth"
	"github.com/switchboard-dev/switchboard/graph/generated"
)

// limitsServer is the GraphQL handler with the default limits, whose root resolvers are replaced
// by a counter: an operation that reaches execution counts its root fields and answers null.
type limitsServer struct {
	t       *testing.T
	h       http.Handler
	reached atomic.Int64
}

func newLimitsServer(t *testing.T, introspection bool) *limitsServer {
	return newLimitsServerWith(t, Options{
		ComplexityLimit: DefaultComplexityLimit,
		DepthLimit:      DefaultDepthLimit,
		TokenLimit:      DefaultTokenLimit,
		Introspection:   introspection,
	})
}

func newLimitsServerWith(t *testing.T, opts Options) *limitsServer {
	t.Helper()
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	h := NewHandler(&Resolver{}, opts)
	s := &limitsServer{t: t, h: h}
	h.(*handler.Server).AroundRootFields(func(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
		s.reached.Add(1)
		return graphql.Null
	})
	return s
}

type limitsResponse struct {
	Status int
	Data   map[string]json.RawMessage
	Errors []struct {
		Message    string
		Extensions map[string]any
	}
}

// post sends params as a writer of account acct_a.
func (s *limitsServer) post(params map[string]any) limitsResponse {
	s.t.Helper()
	body, _ := json.Marshal(params)
	req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req = req.WithContext(auth.NewContext(req.Context(), auth.Viewer{AccountID: "acct_a", Read: true, Write: true}))
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	out := limitsResponse{Status: rec.Code}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		s.t.Fatalf("not GraphQL JSON (%d): %s", rec.Code, rec.Body)
	}
	return out
}

// refused asserts that query was refused with BAD_USER_INPUT, a message containing want, and
// without any root field being resolved.
func (s *limitsServer) refused(query string, vars map[string]any, want string) limitsResponse {
	s.t.Helper()
	before := s.reached.Load()
	res := s.post(map[string]any{"query": query, "variables": vars})
	if len(res.Errors) != 1 || res.Errors[0].Extensions["code"] != "BAD_USER_INPUT" || !strings.Contains(res.Errors[0].Message, want) {
		s.t.Fatalf("%.200s: got %+v, want one BAD_USER_INPUT containing %q", query, res.Errors, want)
	}
	if n := s.reached.Load() - before; n != 0 {
		s.t.Fatalf("%.200s: refused, but %d root field(s) were resolved", query, n)
	}
	return res
}

// accepted asserts that query ran without error and resolved roots root fields.
func (s *limitsServer) accepted(query string, vars map[string]any, roots int64) {
	s.t.Helper()
	before := s.reached.Load()
	res := s.post(map[string]any{"query": query, "variables": vars})
	if len(res.Errors) != 0 {
		s.t.Fatalf("%.200s: %+v", query, res.Errors)
	}
	if n := s.reached.Load() - before; n != roots {
		s.t.Fatalf("%.200s: %d root field(s) resolved, want %d", query, n, roots)
	}
}

// nested is a query whose fields nest depth levels, one item per page: providers, edges, node,
// numbers, edges, node, provider, numbers, … down to a leaf __typename.
func nested(depth int) string {
	path := []string{"numbers(first: 1)", "edges", "node", "provider"}
	var b strings.Builder
	b.WriteString("{ providers(first: 1) { edges { node { ")
	for i := range depth - 4 {
		b.WriteString(path[i%len(path)] + " { ")
	}
	return b.String() + "__typename" + strings.Repeat(" }", depth)
}

func TestNestedQueriesDeeperThanTheLimitAreRefused(t *testing.T) {
	s := newLimitsServer(t, true)
	if got := measureQuery(t, nested(DefaultDepthLimit), nil).depth; got != DefaultDepthLimit {
		t.Fatalf("nested(%d) measures %d deep", DefaultDepthLimit, got)
	}
	s.accepted(nested(DefaultDepthLimit), nil, 1)
	res := s.refused(nested(DefaultDepthLimit+2), nil, "")
	if want := fmt.Sprintf("the operation is nested %d levels deep; the most this server accepts is %d", DefaultDepthLimit+2, DefaultDepthLimit); !strings.HasPrefix(res.Errors[0].Message, want) {
		t.Fatalf("message %q, want it to start %q", res.Errors[0].Message, want)
	}

	// Fragments and inline fragments nest as deep as the fields they stand for.
	viaFragments := `{ providers { ...P } }
		fragment P on ProviderConnection { edges { node { ... on Provider { numbers { ...N } } } } }
		fragment N on PhoneNumberConnection { edges { node { provider { numbers { edges { node { provider { ... { numbers { totalCount } } } } } } } } } }`
	if got := measureQuery(t, viaFragments, nil).depth; got != 13 {
		t.Fatalf("depth through fragments = %d, want 13", got)
	}
	s.refused(viaFragments, nil, "nested 13 levels deep")

	// Introspection counts one level: gqlparser bounds it (MaxIntrospectionDepth), and tools'
	// schema queries nest ofType far deeper than any data query.
	s.accepted(playgroundSchemaQuery, nil, 1) // __schema
	s.refused(`{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }`, nil, "Maximum introspection depth exceeded")
}

func TestPageSizesAreBoundedAndMultiplyTheirEdges(t *testing.T) {
	s := newLimitsServer(t, true)
	s.accepted(`{ phoneNumbers(first: 100) { edges { node { id } } } }`, nil, 1)
	res := s.refused(`{ phoneNumbers(first: 100000) { edges { node { id } } } }`, nil,
		"first on phoneNumbers is 100000; a page holds at most 100 items: ask for 100 or fewer")
	if res.Errors[0].Extensions["field"] != "first" {
		t.Fatalf("field = %v, want first", res.Errors[0].Extensions["field"])
	}
	// Through a variable, on a nested connection, under an alias.
	s.refused(`query($n: Int) { providers(first: 1) { edges { node { mine: numbers(last: $n) { totalCount } } } } }`,
		map[string]any{"n": 101}, "last on mine is 101; a page holds at most 100 items")

	for _, tc := range []struct {
		query string
		vars  map[string]any
		cost  int
	}{
		// phoneNumbers 1 + totalCount 1 + edges (1 + 100 × (node 1 + provider 1 + id 1)).
		{`{ phoneNumbers(first: 100) { totalCount edges { node { provider { id } } } } }`, nil, 303},
		{`{ phoneNumbers { totalCount edges { node { provider { id } } } } }`, nil, 303}, // neither first nor last: served, and costed, as first: 100
		{`query($n: Int) { phoneNumbers(first: $n) { totalCount edges { node { provider { id } } } } }`, map[string]any{"n": 10}, 33},
		{`{ phoneNumbers(last: 0) { edges { node { id } } } }`, nil, 2},
		// Nested pages multiply: 1 + (1 + 10 × (1 + 1 + (1 + 20 × 2))).
		{`{ providers(first: 10) { edges { node { numbers(first: 20) { edges { node { id } } } } } } }`, nil, 432},
		// A fragment on a connection type takes the page of each connection it is spread in.
		{`{ a: phoneNumbers(first: 7) { ...C } b: phoneNumbers(first: 3) { ...C } } fragment C on PhoneNumberConnection { edges { node { id } } }`, nil, 16 + 8},
		// Through an interface: node 1 + numbers 1 + edges (1 + 5 × 2).
		{`{ node(id: "prov_x") { ... on Provider { numbers(first: 5) { edges { node { id } } } } } }`, nil, 13},
		// nodes(ids) returns one object per ID: 1 + 3 × (id 1 + __typename 1).
		{`{ nodes(ids: ["a", "b", "c"]) { id __typename } }`, nil, 7},
		{`query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": []any{"a", "b"}}, 3},
		// Each mutation field costs MutationCost plus its selection.
		{`mutation { a: deletePhoneNumber(id: "pn_x") b: updateCallLimits(input: {}) { concurrentMax } }`, nil, 2*MutationCost + 1},
	} {
		if got := measureQuery(t, tc.query, tc.vars).cost; got != tc.cost {
			t.Errorf("%s: cost %d, want %d", tc.query, got, tc.cost)
		}
	}
}

func TestComplexityCountsAliasesPagesAndMutations(t *testing.T) {
	// No token limit: with the default one, these documents would be refused for their length
	// before their complexity is measured.
	s := newLimitsServerWith(t, Options{ComplexityLimit: DefaultComplexityLimit, DepthLimit: DefaultDepthLimit})
	aliases := func(n int, field string) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			fmt.Fprintf(&b, " a%d: %s", i, field)
		}
		return b.String() + " }"
	}
	page := `phoneNumbers(first: 100) { edges { node { provider { id } } } }` // 1 + 1 + 100 × 3 = 302
	s.accepted(aliases(33, page), nil, 33)                                    // 9966
	s.refused(aliases(200, page), nil, fmt.Sprintf("the operation's complexity is %d; the most this server accepts is %d", 200*302, DefaultComplexityLimit))

	originate := `originateCall(input: {from: "+14155550100", to: "+14155550199"}) { id }`
	s.refused("mutation "+aliases(500, originate), nil, fmt.Sprintf("complexity is %d;", 500*(MutationCost+1)))
	s.accepted("mutation "+aliases(2, `updateCallLimits(input: {}) { concurrentMax }`), nil, 2)

	// Fragments that each spread the next twice double the cost at every level; the walk
	// measures each fragment once, so 70 levels are refused at once, the cost past counting.
	var b strings.Builder
	b.WriteString("{ ...F0 }")
	for i := range 70 {
		fmt.Fprintf(&b, " fragment F%d on Query { __typename ...F%d ...F%d }", i, i+1, i+1)
	}
	b.WriteString(" fragment F70 on Query { __typename }")
	s.refused(b.String(), nil, "the operation's complexity is beyond counting")
	if got := measureQuery(t, b.String(), nil).cost; got != math.MaxInt {
		t.Fatalf("70 doublings cost %d, want saturation at MaxInt", got)
	}
	var small strings.Builder
	small.WriteString("{ ...F0 }")
	for i := range 10 {
		fmt.Fprintf(&small, " fragment F%d on Query { __typename ...F%d ...F%d }", i, i+1, i+1)
	}
	small.WriteString(" fragment F10 on Query { __typename }")
	if got := measureQuery(t, small.String(), nil).cost; got != 1<<11-1 {
		t.Fatalf("10 doublings cost %d, want %d", got, 1<<11-1)
	}
}

func TestArgumentsAreBounded(t *testing.T) {
	s := newLimitsServer(t, true)
	contains := `query($s: String) { phoneNumbers(where: {agentIDContains: $s}) { totalCount } }`
	s.accepted(contains, map[string]any{"s": strings.Repeat("a", MaxFilterStringLen)}, 1)
	res := s.refused(contains, map[string]any{"s": strings.Repeat("a", MaxFilterStringLen+1)},
		"where.agentIDContains is 1001 bytes long; a filter accepts strings of at most 1000 bytes")
	if res.Errors[0].Extensions["field"] != "where.agentIDContains" {
		t.Fatalf("field = %v", res.Errors[0].Extensions["field"])
	}

	ids := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = fmt.Sprintf("pn_%d", i)
		}
		return out
	}
	s.accepted(`query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": ids(MaxArgumentItems)}, 1)
	s.refused(`query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": ids(MaxArgumentItems + 1)},
		"ids holds 1001 items; a list may hold at most 1000")
	s.refused(`query($ids: [ID!]) { providers { edges { node { numbers(where: {or: [{idIn: $ids}]}) { totalCount } } } } }`,
		map[string]any{"ids": ids(MaxArgumentItems + 1)}, "where.or[0].idIn holds 1001 items")

	not := func(n int) any {
		var w any = map[string]any{"agentID": "a"}
		for range n {
			w = map[string]any{"not": w}
		}
		return w
	}
	filter := `query($w: PhoneNumberWhereInput) { phoneNumbers(where: $w) { totalCount } }`
	s.accepted(filter, map[string]any{"w": not(MaxArgumentDepth - 1)}, 1)
	s.refused(filter, map[string]any{"w": not(MaxArgumentDepth)}, "where"+strings.Repeat(".not", MaxArgumentDepth)+" nests deeper than 20 levels")

	// Outside filters, a string's length is for the input's own validation to judge.
	s.accepted(`mutation($l: String!) { createProvider(input: {carrier: "twilio", label: $l, credentials: {}}) { id } }`,
		map[string]any{"l": strings.Repeat("a", 5000)}, 1)
}

func TestAFragmentCycleEndsTheWalk(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{Resolvers: &Resolver{}}).Schema()
	doc, err := parser.ParseQuery(&ast.Source{Input: `{ ...A } fragment A on Query { __typename ...B } fragment B on Query { ...A }`})
	if err != nil {
		t.Fatal(err)
	}
	if errs := validator.Validate(schema, doc); len(errs) == 0 {
		t.Fatal("gqlparser accepted a fragment cycle")
	}
	m := measure(doc.Operations[0], nil, "Mutation")
	if m.err == nil || !strings.Contains(m.err.Error(), "fragment A spreads itself") {
		t.Fatalf("err = %v", m.err)
	}
}

func TestLongDocumentsAreRefusedBeforeParsing(t *testing.T) {
	s := newLimitsServer(t, true)
	// gqlparser counts every token but the end: here the braces, carriers, id and the n fields.
	s.accepted("{"+strings.Repeat(" __typename", DefaultTokenLimit-6)+" carriers { id } }", nil, 1)
	s.refused("{"+strings.Repeat(" __typename", DefaultTokenLimit-5)+" carriers { id } }", nil, fmt.Sprintf("exceeded token limit of %d", DefaultTokenLimit))

	padded := "{ carriers { id } }" + strings.Repeat(" ", MaxQueryBytes)
	s.refused(padded, nil, fmt.Sprintf("the query is %d bytes long; the most this server accepts is %d", len(padded), MaxQueryBytes))
	s.accepted(padded[:MaxQueryBytes], nil, 1)

	// Refused before the persisted-query cache keeps it: its hash alone is then unknown.
	hash := sha256.Sum256([]byte(padded))
	apq := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(hash[:])}}
	if res := s.post(map[string]any{"query": padded, "extensions": apq}); len(res.Errors) != 1 || !strings.Contains(res.Errors[0].Message, "bytes long") {
		t.Fatalf("a long persisted query: %+v", res.Errors)
	}
	if res := s.post(map[string]any{"extensions": apq}); len(res.Errors) != 1 || res.Errors[0].Message != "PersistedQueryNotFound" {
		t.Fatalf("the long query was cached: %+v", res.Errors)
	}
}

func TestOneRequestRunsOneOperation(t *testing.T) {
	s := newLimitsServer(t, true)
	var doc strings.Builder
	for i := range 50 {
		fmt.Fprintf(&doc, "query Q%d { carriers { id } }\n", i)
	}
	res := s.refused(doc.String(), nil, "the document holds 50 operations and one request runs one: name it in operationName")
	if res.Errors[0].Extensions["field"] != "operationName" {
		t.Fatalf("field = %v", res.Errors[0].Extensions["field"])
	}
	before := s.reached.Load()
	if res := s.post(map[string]any{"query": doc.String(), "operationName": "Q7"}); len(res.Errors) != 0 || s.reached.Load()-before != 1 {
		t.Fatalf("operationName Q7: %+v, %d root fields resolved", res.Errors, s.reached.Load()-before)
	}
}

func TestIntrospectionSwitch(t *testing.T) {
	off := newLimitsServer(t, false)
	for _, q := range []string{
		`{ __schema { queryType { name } } }`,
		`{ __type(name: "Query") { name } }`,
		`{ ...F } fragment F on Query { ... { __schema { queryType { name } } } }`,
		`{ carriers { id } __type(name: "Provider") { name } }`,
	} {
		off.refused(q, nil, "introspection is turned off on this server")
	}
	off.accepted(`{ __typename carriers { id } }`, nil, 1)

	// Resolved for real this time, without the counter in its place.
	on := &limitsServer{t: t, h: NewHandler(&Resolver{}, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Introspection: true})}
	res := on.post(map[string]any{"query": `{ __type(name: "Query") { name } }`})
	if len(res.Errors) != 0 || string(res.Data["__type"]) != `{"name":"Query"}` {
		t.Fatalf("introspection on: %+v %s", res.Errors, res.Data["__type"])
	}
}

// TestRealOperationsFitTheDefaultLimits: every operation the integration client sends, with its
// pages as large as they may be, and the playground's schema query.
func TestRealOperationsFitTheDefaultLimits(t *testing.T) {
	src, err := os.ReadFile("../integration/client/operations.graphql")
	if err != nil {
		t.Fatal(err)
	}
	schema := generated.NewExecutableSchema(generated.Config{Resolvers: &Resolver{}}).Schema()
	for _, doc := range []string{string(src), playgroundSchemaQuery} {
		q, errs := gqlparser.LoadQueryWithRules(schema, doc, nil)
		if len(errs) != 0 {
			t.Fatal(errs)
		}
		for _, op := range q.Operations {
			vars := map[string]any{"first": int64(MaxPageSize)}
			m := measure(op, vars, "Mutation")
			if m.err != nil || m.depth > DefaultDepthLimit || m.cost > DefaultComplexityLimit {
				t.Errorf("%s: depth %d, cost %d, err %v", op.Name, m.depth, m.cost, m.err)
			}
			t.Logf("%s: depth %d, cost %d", op.Name, m.depth, m.cost)
		}
	}
}

// measureQuery validates query against the schema and measures its only operation.
func measureQuery(t *testing.T, query string, vars map[string]any) metrics {
	t.Helper()
	schema := generated.NewExecutableSchema(generated.Config{Resolvers: &Resolver{}}).Schema()
	doc, errs := gqlparser.LoadQuery(schema, query)
	if len(errs) != 0 {
		t.Fatalf("%s: %v", query, errs)
	}
	coerced, err := validator.VariableValues(schema, doc.Operations[0], vars)
	if err != nil {
		t.Fatal(err)
	}
	m := measure(doc.Operations[0], coerced, "Mutation")
	if m.err != nil {
		t.Fatalf("%s: %v", query, m.err)
	}
	return m
}

// playgroundSchemaQuery is graphql-js's getIntrospectionQuery with its default type depth (9) and
// the options GraphiQL turns on: what the playground sends to load the schema.
const playgroundSchemaQuery = `query IntrospectionQuery {
  __schema {
    description
    queryType { name kind }
    mutationType { name kind }
    subscriptionType { name kind }
    types { ...FullType }
    directives { name description isRepeatable locations args(includeDeprecated: true) { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description specifiedByURL
  fields(includeDeprecated: true) {
    name description
    args(includeDeprecated: true) { ...InputValue }
    type { ...TypeRef }
    isDeprecated deprecationReason
  }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue {
  name description type { ...TypeRef } defaultValue isDeprecated deprecationReason
}
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }
}`

func TestHostileArgumentsAreCheckedOnce(t *testing.T) {
	literal, aliases := hostileQueries()
	// The where object, its or list, a reference per item; first's 1 when given.
	literalOverhead, aliasesOverhead := 1+1+1+440, 80
	walk := func(n int) int { return 2 + n*(2+MaxArgumentItems) } // $w: object, or list, n × (object, list, IDs)

	// Under MaxArgumentValues, a variable is walked once however often it is referenced.
	for _, tc := range []struct {
		name, query string
		want        int
	}{
		{"440 references in a literal", literal, literalOverhead + walk(90)},
		{"80 aliases", aliases, aliasesOverhead + walk(90)},
	} {
		if got := measureQuery(t, tc.query, map[string]any{"w": hostileWhere(90)}).values; got != tc.want {
			t.Errorf("%s: %d values checked, want %d", tc.name, got, tc.want)
		}
	}

	// Over it, the walk stops at the first value past the budget.
	schema := generated.NewExecutableSchema(generated.Config{Resolvers: &Resolver{}}).Schema()
	for _, query := range []string{literal, aliases} {
		doc, errs := gqlparser.LoadQuery(schema, query)
		if len(errs) != 0 {
			t.Fatal(errs)
		}
		vars, err := validator.VariableValues(schema, doc.Operations[0], map[string]any{"w": hostileWhere(240)})
		if err != nil {
			t.Fatal(err)
		}
		if m := measure(doc.Operations[0], vars, "Mutation"); m.values != MaxArgumentValues+1 || m.err == nil {
			t.Errorf("%.60s: %d values checked, err %v; want %d and a refusal", query, m.values, m.err, MaxArgumentValues+1)
		}
	}
	s := newLimitsServer(t, true)
	want := fmt.Sprintf("the operation's arguments hold more than %d values, the most this server accepts", MaxArgumentValues)
	s.refused(literal, map[string]any{"w": hostileWhere(240)}, want)
	s.refused(aliases, map[string]any{"w": hostileWhere(240)}, want)
	s.accepted(literal, map[string]any{"w": hostileWhere(90)}, 1)
	s.accepted(aliases, map[string]any{"w": hostileWhere(90)}, 80)

	// A variable met again deeper down, or in a filter after outside one, is checked again there.
	var deep any = map[string]any{"idIn": []any{"a"}}
	for range MaxArgumentDepth - 3 {
		deep = map[string]any{"not": deep}
	}
	s.refused(`query($w: CallWhereInput) { a: calls(where: $w) { totalCount } b: calls(where: {not: {not: $w}}) { totalCount } }`,
		map[string]any{"w": deep}, "where.not.not"+strings.Repeat(".not", MaxArgumentDepth-3)+".idIn nests deeper than 20 levels")
	s.refused(`query($s: ID!) { nodes(ids: [$s]) { id } phoneNumbers(where: {id: $s}) { totalCount } }`,
		map[string]any{"s": strings.Repeat("a", MaxFilterStringLen+1)}, "where.id is 1001 bytes long")
	// And a long string written in the document is checked as one in a variable.
	s.refused(`{ phoneNumbers(where: {or: [{agentID: "a"}, {agentIDContains: "`+strings.Repeat("a", MaxFilterStringLen+1)+`"}]}) { totalCount } }`,
		nil, "where.or[1].agentIDContains is 1001 bytes long")
}

func TestDefaultPagesRewriteACopy(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{Resolvers: &Resolver{}}).Schema()
	load := func(query string) *ast.QueryDocument {
		t.Helper()
		doc, errs := gqlparser.LoadQuery(schema, query)
		if len(errs) != 0 {
			t.Fatal(errs)
		}
		return doc
	}
	format := func(doc *ast.QueryDocument) string {
		var b strings.Builder
		formatter.NewFormatter(&b).FormatQueryDocument(doc)
		return b.String()
	}
	query := `query Q($n: Int) {
		providers { edges { node { ...N calls(last: 2) { totalCount } } } }
		phoneNumbers(first: $n, where: {agentID: "a"}) { totalCount }
		nodes(ids: ["x"]) { ... on Provider { numbers(first: 3) { totalCount } } }
	}
	fragment N on Provider { numbers { edges { node { calls { totalCount } } } } }`
	doc := load(query)
	before := format(doc)
	got, op := defaultPages(doc, doc.Operations[0], map[string]any{"n": nil})
	if format(doc) != before {
		t.Fatalf("the cached document was changed:\n%s", format(doc))
	}
	if op != got.Operations[0] {
		t.Fatal("the operation returned is not the rewritten document's")
	}
	want, err := parser.ParseQuery(&ast.Source{Input: `query Q($n: Int) {
		providers(first: 100) { edges { node { ...N calls(last: 2) { totalCount } } } }
		phoneNumbers(where: {agentID: "a"}, first: 100) { totalCount }
		nodes(ids: ["x"]) { ... on Provider { numbers(first: 3) { totalCount } } }
	}
	fragment N on Provider { numbers(first: 100) { edges { node { calls(first: 100) { totalCount } } } } }`})
	if err != nil {
		t.Fatal(err)
	}
	if format(got) != format(want) {
		t.Fatalf("rewritten:\n%s\nwant:\n%s", format(got), format(want))
	}
	// With every page given, the document is used as it is.
	paged := load(`{ providers(first: 2) { totalCount } }`)
	if same, sameOp := defaultPages(paged, paged.Operations[0], nil); same != paged || sameOp != paged.Operations[0] {
		t.Fatal("a document with every page given was copied")
	}
}

// hostileWhere is a CallWhereInput of n items under or, each an idIn of MaxArgumentItems
// one-byte IDs: about 1000 × n argument values.
func hostileWhere(n int) map[string]any {
	ids := make([]any, MaxArgumentItems)
	for i := range ids {
		ids[i] = "a"
	}
	or := make([]any, n)
	for i := range or {
		or[i] = map[string]any{"idIn": ids}
	}
	return map[string]any{"or": or}
}

// hostileQueries are the shapes of the report: a large where variable referenced many times in
// one literal list, and by many aliases, all within the default token limit.
func hostileQueries() (literal, aliases string) {
	literal = `query($w: CallWhereInput!) { calls(first: 1, where: {or: [` + strings.Repeat("$w,", 440) + `]}) { totalCount } }`
	aliases = `query($w: CallWhereInput!) {` + aliased(80, `calls(where: $w) { totalCount }`) + ` }`
	return literal, aliases
}

// aliased is a selection of n aliases of field.
func aliased(n int, field string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, " a%d: %s", i, field)
	}
	return b.String()
}

// BenchmarkLimitsHostileArguments measures what the hostile shapes cost the server without a
// token: decoding the variables, the checks, and the refusal.
func BenchmarkLimitsHostileArguments(b *testing.B) {
	h := NewHandler(&Resolver{}, Options{
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		ComplexityLimit: DefaultComplexityLimit,
		DepthLimit:      DefaultDepthLimit,
		TokenLimit:      DefaultTokenLimit,
	})
	literal, aliases := hostileQueries()
	for _, bc := range []struct {
		name, query string
		where       map[string]any
		code        string // over MaxArgumentValues: refused; under: checked, then unauthenticated
	}{
		{"literal440x240k", literal, hostileWhere(240), "BAD_USER_INPUT"},
		{"aliases80x240k", aliases, hostileWhere(240), "BAD_USER_INPUT"},
		{"literal440x90k", literal, hostileWhere(90), "UNAUTHENTICATED"},
	} {
		body, err := json.Marshal(map[string]any{"query": bc.query, "variables": map[string]any{"w": bc.where}})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(string(body)))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				var res limitsResponse
				if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil || len(res.Errors) != 1 || res.Errors[0].Extensions["code"] != bc.code {
					b.Fatalf("%d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
