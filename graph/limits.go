package graph

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/switchboard-dev/switchboard/apperr"
)

// Defaults of the operation limits, which SWITCHBOARD_MAX_DEPTH, SWITCHBOARD_MAX_COMPLEXITY and
// SWITCHBOARD_MAX_TOKENS override. Every operation of the integration client and the playground's
// schema query fit them.
const (
	DefaultDepthLimit      = 12
	DefaultComplexityLimit = 10000
	DefaultTokenLimit      = 1000
)

// MaxPageSize is the most items one page of a connection may hold: a larger first or last is
// refused. A connection asked for without either gets, and is costed as, a page this size.
const MaxPageSize = 100

// MaxQueryBytes is the longest query text accepted. Accepted documents are cached (as are
// persisted queries), so this bounds the caches' memory as well as the parsing.
const MaxQueryBytes = 64 << 10

// Bounds of argument values, checked with the operation's limits: the databases refuse longer
// lists of parameters, deeper expressions and longer patterns with errors of their own.
const (
	MaxArgumentItems   = 1000 // the most items in a list, anywhere in an argument
	MaxArgumentDepth   = 20   // the most levels of nested objects and lists in an argument
	MaxFilterStringLen = 1000 // the longest string in a where filter, in bytes
	// MaxArgumentValues is the most values (objects, lists, scalars, variable references) the
	// arguments of one operation may hold in all, a variable's value counted once however
	// often it is used: it bounds the work of checking them.
	MaxArgumentValues = 100000
)

// MutationCost is what a mutation field adds to an operation's complexity, instead of the 1 of
// other fields: each writes, and some reach a carrier.
const MutationCost = 500

// limits bound one operation. They are checked after validation, before the caller's
// authorization and before anything is resolved, so a refusal costs one walk of the document.
type limits struct {
	maxDepth      int // 0: no limit
	maxComplexity int // 0: no limit
	mutationType  string
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = (*limits)(nil)

// ExtensionName implements graphql.HandlerExtension.
func (*limits) ExtensionName() string { return "OperationLimits" }

// Validate implements graphql.HandlerExtension.
func (l *limits) Validate(es graphql.ExecutableSchema) error {
	if m := es.Schema().Mutation; m != nil {
		l.mutationType = m.Name
	}
	return nil
}

// MutateOperationContext refuses the operation when a page is too large, its fields nest too
// deep or it costs too much. It then gives every connection that asks for neither first nor last
// a page of MaxPageSize, as it was costed.
func (l *limits) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	m := measure(oc.Operation, oc.Variables, l.mutationType)
	switch {
	case m.err != nil:
		return gqlerror.Wrap(m.err)
	case l.maxDepth > 0 && m.depth > l.maxDepth:
		return gqlerror.Wrap(apperr.BadInput("", "the operation is nested %d levels deep; the most this server accepts is %d: select fewer levels of nested fields (__schema and __type count as one level)",
			m.depth, l.maxDepth))
	case l.maxComplexity > 0 && m.cost > l.maxComplexity:
		return gqlerror.Wrap(apperr.BadInput("", "the operation's complexity is %s; the most this server accepts is %d: select fewer fields or ask for smaller pages (each field counts 1, a connection's edges count once per item of the page it asks for with first or last, %d when it gives neither, and each mutation field counts %d)",
			costString(m.cost), l.maxComplexity, MaxPageSize, MutationCost))
	}
	oc.Doc, oc.Operation = defaultPages(oc.Doc, oc.Operation, oc.Variables)
	return nil
}

func costString(n int) string {
	if n == math.MaxInt {
		return "beyond counting"
	}
	return strconv.Itoa(n)
}

// metrics are what measure finds in an operation.
type metrics struct {
	depth  int   // fields on the longest path from the root, introspection fields counting 1
	cost   int   // the complexity: see limits.MutateOperationContext's message
	values int   // argument values checked: see MaxArgumentValues
	err    error // the first page-size, argument or fragment mistake
}

// measure walks op once, fragments included: each fragment is measured once per page size it is
// spread under (so fragments spreading fragments cannot make the walk exponential), and a
// fragment that spreads itself is an error rather than endless recursion (validation rejects
// those anyway).
func measure(op *ast.OperationDefinition, vars map[string]any, mutationType string) metrics {
	w := &walker{vars: vars, mutationType: mutationType, memo: map[memoKey]metrics{}, visiting: map[string]bool{}, checked: map[string]varCheck{}}
	m := w.selectionSet(op.SelectionSet, 1)
	m.values = w.values
	m.err = w.err
	return m
}

type memoKey struct {
	fragment string
	page     int
}

type walker struct {
	vars         map[string]any
	mutationType string
	memo         map[memoKey]metrics
	visiting     map[string]bool
	checked      map[string]varCheck // by variable name
	path         []pathElem          // to the argument value being checked
	values       int                 // argument values checked so far
	err          error
}

// varCheck is how far a variable's value has been checked: at most nested depth levels inside
// an argument, and whether as part of a where filter. Each of the checks is independent of the
// others, so a variable met again no deeper and in no stricter place is not walked again.
type varCheck struct {
	depth  int
	filter bool
}

func (w *walker) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// selectionSet measures set. page multiplies the cost of an edges field in it: the page size
// when set is a connection's selection, 1 elsewhere.
func (w *walker) selectionSet(set ast.SelectionSet, page int) metrics {
	var out metrics
	for _, sel := range set {
		var m metrics
		switch sel := sel.(type) {
		case *ast.Field:
			m = w.field(sel, page)
		case *ast.InlineFragment:
			m = w.selectionSet(sel.SelectionSet, page)
		case *ast.FragmentSpread:
			m = w.fragment(sel, page)
		}
		out.depth = max(out.depth, m.depth)
		out.cost = addSat(out.cost, m.cost)
	}
	return out
}

func (w *walker) fragment(spread *ast.FragmentSpread, page int) metrics {
	def := spread.Definition
	if def == nil {
		return metrics{} // an unknown fragment: validation reports it
	}
	key := memoKey{def.Name, page}
	if m, ok := w.memo[key]; ok {
		return m
	}
	if w.visiting[def.Name] {
		w.fail(apperr.BadInput("", "fragment %s spreads itself: a fragment may not include itself, directly or through others", def.Name))
		return metrics{}
	}
	w.visiting[def.Name] = true
	m := w.selectionSet(def.SelectionSet, page)
	delete(w.visiting, def.Name)
	w.memo[key] = m
	return m
}

func (w *walker) field(f *ast.Field, page int) metrics {
	for _, arg := range f.Arguments {
		w.path = append(w.path[:0], pathElem{name: arg.Name})
		w.checkLiteral(arg.Value, 0, arg.Name == "where")
	}
	size, isConnection := w.pageSize(f)
	inner := 1
	if isConnection {
		inner = size
	}
	sub := w.selectionSet(f.SelectionSet, inner)

	depth := 1 + sub.depth
	if f.Name == "__schema" || f.Name == "__type" {
		// Bounded by gqlparser's MaxIntrospectionDepth rule instead: tools' schema queries nest
		// ofType a dozen levels deep, each holding one type at most.
		depth = 1
	}
	base := 1
	if f.ObjectDefinition != nil && f.ObjectDefinition.Name == w.mutationType {
		base = MutationCost
	}
	cost := addSat(base, sub.cost)
	switch {
	case f.Name == "edges":
		cost = addSat(1, mulSat(sub.cost, page))
	case f.Definition != nil && f.Definition.Type.Elem != nil && f.Arguments.ForName("ids") != nil:
		// nodes(ids): one object per ID.
		cost = addSat(base, mulSat(sub.cost, w.listLength(f.Arguments.ForName("ids"))))
	}
	return metrics{depth: depth, cost: cost}
}

// pageSize reports whether f is a Relay connection (a *Connection with first and last) and the
// most items it can return, refusing a first or last above MaxPageSize.
func (w *walker) pageSize(f *ast.Field) (int, bool) {
	if !isConnection(f.Definition) {
		return 0, false
	}
	size, given := 0, false
	pageArgs(f, w.vars, func(name string, n int) {
		given = true
		if n > MaxPageSize {
			w.fail(apperr.BadInput(name, "%s on %s is %d; a page holds at most %d items: ask for %d or fewer and fetch the next page with after (or before) set to pageInfo's endCursor (startCursor)",
				name, f.Alias, n, MaxPageSize, MaxPageSize))
		}
		size = max(size, n)
	})
	if !given {
		size = MaxPageSize
	}
	return size, true
}

// pageArgs calls page for each of first and last that f gives a number for: an absent or null
// one does not count, nor one validation has already refused.
func pageArgs(f *ast.Field, vars map[string]any, page func(name string, n int)) {
	for _, name := range []string{"first", "last"} {
		if arg := f.Arguments.ForName(name); arg != nil {
			v, err := arg.Value.Value(vars)
			if n, ok := toInt(v); err == nil && ok {
				page(name, n)
			}
		}
	}
}

// isConnection reports whether def is a Relay connection: a *Connection with first and last.
func isConnection(def *ast.FieldDefinition) bool {
	return def != nil && def.Arguments.ForName("first") != nil && def.Arguments.ForName("last") != nil &&
		strings.HasSuffix(def.Type.Name(), "Connection")
}

// pathElem is one step of the path to a value in an argument: the argument's name or an object
// key, or a list index when name is "".
type pathElem struct {
	name  string
	index int
}

// pathString is the path to the value being checked, such as where.or[0].idIn. It is built only
// to report a mistake.
func (w *walker) pathString() string {
	var b strings.Builder
	for i, e := range w.path {
		switch {
		case e.name == "":
			b.WriteString("[" + strconv.Itoa(e.index) + "]")
		case i > 0:
			b.WriteString("." + e.name)
		default:
			b.WriteString(e.name)
		}
	}
	return b.String()
}

// count charges one value to the operation's budget, refusing the operation past
// MaxArgumentValues.
func (w *walker) count() bool {
	if w.err != nil {
		return false
	}
	w.values++
	if w.values > MaxArgumentValues {
		w.fail(apperr.BadInput("", "the operation's arguments hold more than %d values, the most this server accepts (each object, list, scalar and variable reference counts 1, and a variable's value is counted once however often it is used): send fewer or shorter lists",
			MaxArgumentValues))
		return false
	}
	return true
}

// checkLiteral checks an argument as written in the document, at w.path and nested depth levels
// deep. A variable's value is checked once per operation however often it is referenced (see
// varCheck), so repeating a variable costs no more than its references.
func (w *walker) checkLiteral(v *ast.Value, depth int, filter bool) {
	if v == nil || !w.count() {
		return
	}
	if v.Kind == ast.Variable {
		prev, seen := w.checked[v.Raw]
		if seen && prev.depth >= depth && (prev.filter || !filter) {
			return
		}
		w.checked[v.Raw] = varCheck{depth: max(prev.depth, depth), filter: prev.filter || filter}
		if val, ok := w.vars[v.Raw]; ok {
			w.checkValue(val, depth, filter)
		}
		return
	}
	switch v.Kind {
	case ast.StringValue, ast.BlockValue:
		w.checkString(len(v.Raw), filter)
	case ast.ListValue, ast.ObjectValue:
		if !w.checkNesting(depth) || v.Kind == ast.ListValue && !w.checkItems(len(v.Children)) {
			return
		}
		for i, c := range v.Children {
			w.path = append(w.path, pathElem{name: c.Name, index: i}) // a list item's name is ""
			w.checkLiteral(c.Value, depth+1, filter)
			w.path = w.path[:len(w.path)-1]
		}
	}
}

// checkValue checks a variable's value (or a part of one), at w.path and nested depth levels
// deep in an argument.
func (w *walker) checkValue(v any, depth int, filter bool) {
	if !w.count() {
		return
	}
	switch v := v.(type) {
	case string:
		w.checkString(len(v), filter)
	case map[string]any:
		if !w.checkNesting(depth) {
			return
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys) // the same mistake reported every time
		for _, k := range keys {
			w.path = append(w.path, pathElem{name: k})
			w.checkValue(v[k], depth+1, filter)
			w.path = w.path[:len(w.path)-1]
		}
	case []any:
		if !w.checkNesting(depth) || !w.checkItems(len(v)) {
			return
		}
		for i, e := range v {
			w.path = append(w.path, pathElem{index: i})
			w.checkValue(e, depth+1, filter)
			w.path = w.path[:len(w.path)-1]
		}
	}
}

// checkString refuses, in a where filter, a string longer than MaxFilterStringLen.
func (w *walker) checkString(n int, filter bool) {
	if filter && n > MaxFilterStringLen {
		p := w.pathString()
		w.fail(apperr.BadInput(p, "%s is %d bytes long; a filter accepts strings of at most %d bytes", p, n, MaxFilterStringLen))
	}
}

// checkNesting refuses an object or list nested deeper than MaxArgumentDepth.
func (w *walker) checkNesting(depth int) bool {
	if depth < MaxArgumentDepth {
		return true
	}
	p := w.pathString()
	w.fail(apperr.BadInput(p, "%s nests deeper than %d levels of objects and lists, the most an argument may", p, MaxArgumentDepth))
	return false
}

// checkItems refuses a list of more than MaxArgumentItems.
func (w *walker) checkItems(n int) bool {
	if n <= MaxArgumentItems {
		return true
	}
	p := w.pathString()
	w.fail(apperr.BadInput(p, "%s holds %d items; a list may hold at most %d", p, n, MaxArgumentItems))
	return false
}

// defaultPages returns doc and op with first: MaxPageSize given to every connection field that
// gives neither first nor last (or only nulls): the resolvers, and Ent's eager loading of nested
// connections, read the page from the document's arguments and would otherwise return every row.
// What it changes is copied, never modified: documents are cached and shared between requests.
func defaultPages(doc *ast.QueryDocument, op *ast.OperationDefinition, vars map[string]any) (*ast.QueryDocument, *ast.OperationDefinition) {
	p := &pager{doc: doc, vars: vars, frags: map[string]*ast.FragmentDefinition{}}
	set, changed := p.selectionSet(op.SelectionSet)
	if !changed {
		return doc, op
	}
	newOp := *op
	newOp.SelectionSet = set
	newDoc := *doc
	newDoc.Operations = slices.Clone(doc.Operations)
	for i, o := range newDoc.Operations {
		if o == op {
			newDoc.Operations[i] = &newOp
		}
	}
	newDoc.Fragments = slices.Clone(doc.Fragments)
	for i, f := range newDoc.Fragments {
		if nf := p.frags[f.Name]; nf != nil {
			newDoc.Fragments[i] = nf
		}
	}
	return &newDoc, &newOp
}

// pager rewrites one operation for defaultPages.
type pager struct {
	doc   *ast.QueryDocument
	vars  map[string]any
	frags map[string]*ast.FragmentDefinition // by name: the fragment, rewritten or not; nil while rewriting it
}

// selectionSet returns set rewritten and whether that changed anything.
func (p *pager) selectionSet(set ast.SelectionSet) (ast.SelectionSet, bool) {
	var out ast.SelectionSet // a copy of set, made at the first change
	for i, sel := range set {
		var changed ast.Selection
		switch sel := sel.(type) {
		case *ast.Field:
			sub, subChanged := p.selectionSet(sel.SelectionSet)
			unpaged := p.unpaged(sel)
			if subChanged || unpaged {
				f := *sel
				f.SelectionSet = sub
				if unpaged {
					f.Arguments = slices.DeleteFunc(slices.Clone(sel.Arguments), func(a *ast.Argument) bool { return a.Name == "first" || a.Name == "last" })
					f.Arguments = append(f.Arguments, &ast.Argument{Name: "first", Position: sel.Position, Value: &ast.Value{
						Kind: ast.IntValue, Raw: strconv.Itoa(MaxPageSize), Position: sel.Position, ExpectedType: sel.Definition.Arguments.ForName("first").Type,
					}})
				}
				changed = &f
			}
		case *ast.InlineFragment:
			if sub, subChanged := p.selectionSet(sel.SelectionSet); subChanged {
				c := *sel
				c.SelectionSet = sub
				changed = &c
			}
		case *ast.FragmentSpread:
			if def := p.fragment(sel.Name); def != nil && def != sel.Definition {
				c := *sel
				c.Definition = def
				changed = &c
			}
		}
		if changed != nil {
			if out == nil {
				out = slices.Clone(set)
			}
			out[i] = changed
		}
	}
	if out == nil {
		return set, false
	}
	return out, true
}

// fragment returns the fragment named name, rewritten if it needs to be.
func (p *pager) fragment(name string) *ast.FragmentDefinition {
	if f, seen := p.frags[name]; seen {
		return f // nil for a fragment that spreads itself: validation refuses those
	}
	def := p.doc.Fragments.ForName(name)
	if def == nil {
		return nil
	}
	p.frags[name] = nil
	out := def
	if set, changed := p.selectionSet(def.SelectionSet); changed {
		c := *def
		c.SelectionSet = set
		out = &c
	}
	p.frags[name] = out
	return out
}

// unpaged reports whether f is a connection that gives neither first nor last, or only nulls.
func (p *pager) unpaged(f *ast.Field) bool {
	given := false
	pageArgs(f, p.vars, func(string, int) { given = true })
	return isConnection(f.Definition) && !given
}

// listLength is the number of elements of a list argument.
func (w *walker) listLength(arg *ast.Argument) int {
	v, err := arg.Value.Value(w.vars)
	if err != nil || v == nil {
		return 0
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice {
		return rv.Len()
	}
	return 1 // a single value where a list is expected counts as a list of one
}

// toInt reads an Int argument: int64 from a literal or a coerced variable.
func toInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case json.Number:
		i, err := n.Int64()
		return int(i), err == nil
	}
	return 0, false
}

// addSat and mulSat never overflow: they stop at math.MaxInt. Both take non-negative numbers.
func addSat(a, b int) int {
	if a > math.MaxInt-b {
		return math.MaxInt
	}
	return a + b
}

func mulSat(a, n int) int {
	if n != 0 && a > math.MaxInt/n {
		return math.MaxInt
	}
	return a * n
}

// noIntrospection refuses __schema and __type when introspection is off. Without it gqlgen
// would only fail the fields while resolving them, with an error shown as INTERNAL.
type noIntrospection struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = noIntrospection{}

// ExtensionName implements graphql.HandlerExtension.
func (noIntrospection) ExtensionName() string { return "NoIntrospection" }

// Validate implements graphql.HandlerExtension.
func (noIntrospection) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext refuses operations that select __schema or __type.
func (noIntrospection) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	for _, f := range graphql.CollectFields(oc, oc.Operation.SelectionSet, nil) {
		if f.Name == "__schema" || f.Name == "__type" {
			return gqlerror.Wrap(apperr.BadInput("", "introspection is turned off on this server, so %s is not served: ask its operator for the schema", f.Name))
		}
	}
	return nil
}

// queryLength refuses query texts longer than MaxQueryBytes before they are parsed or cached.
type queryLength struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = queryLength{}

// ExtensionName implements graphql.HandlerExtension.
func (queryLength) ExtensionName() string { return "QueryLength" }

// Validate implements graphql.HandlerExtension.
func (queryLength) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationParameters refuses a long query text.
func (queryLength) MutateOperationParameters(_ context.Context, p *graphql.RawParams) *gqlerror.Error {
	if len(p.Query) > MaxQueryBytes {
		return gqlerror.Wrap(apperr.BadInput("query", "the query is %d bytes long; the most this server accepts is %d: send a shorter document (variables do not count)", len(p.Query), MaxQueryBytes))
	}
	return nil
}

// explainOperationChoice rewrites gqlgen's "operation  not found", its answer to a document of
// several operations sent without operationName. Only one operation runs per request.
func explainOperationChoice(ctx context.Context, err error) error {
	var gqlErr *gqlerror.Error
	if !errors.As(err, &gqlErr) || gqlErr.Message != "operation  not found" || !graphql.HasOperationContext(ctx) {
		return err
	}
	oc := graphql.GetOperationContext(ctx)
	if oc.Doc == nil || len(oc.Doc.Operations) < 2 {
		return err
	}
	return apperr.BadInput("operationName", "the document holds %d operations and one request runs one: name it in operationName", len(oc.Doc.Operations))
}
