package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/switchboard-dev/switchboard/apperr"
	"github.com/switchboard-dev/switchboard/ent/privacy"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		code apperr.Code
	}{
		{"app error", fmt.Errorf("wrapped: %w", apperr.Conflictf("x")), apperr.Conflict},
		{"privacy deny", fmt.Errorf("ent: %w", privacy.Denyf("no")), apperr.Forbidden},
		{"connection refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, apperr.Unavailable},
		{"postgres connect", &pgconn.ConnectError{}, apperr.Unavailable},
		{"postgres shutting down", &pgconn.PgError{Code: "57P01"}, apperr.Unavailable},
		{"postgres connection exception", &pgconn.PgError{Code: "08006"}, apperr.Unavailable},
		{"postgres syntax error", &pgconn.PgError{Code: "42601"}, apperr.Internal},
		{"anything else", errors.New("boom"), apperr.Internal},
	} {
		if got := classify(tc.err).Code; got != tc.code {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.code)
		}
	}
}

func TestInternalErrorsShowNoDetailAndAreLogged(t *testing.T) {
	var logs bytes.Buffer
	present := presentError(slog.New(slog.NewTextHandler(&logs, nil)))
	cause := errors.New(`pq: relation "providers" does not exist at /srv/db.go:12`)
	out := present(context.Background(), cause)
	if out.Extensions["code"] != "INTERNAL" || strings.Contains(out.Message, "providers") || out.Extensions["incident"] == nil {
		t.Fatalf("presented %+v", out)
	}
	if !strings.Contains(logs.String(), out.Extensions["incident"].(string)) || !strings.Contains(logs.String(), "db.go:12") {
		t.Fatalf("log lacks the incident and cause: %s", logs.String())
	}
	// The presenter builds a new error: the original one is left as it was.
	orig := &gqlerror.Error{Message: "original", Extensions: map[string]any{"code": "NOT_FOUND"}}
	out = present(context.Background(), orig)
	if orig.Message != "original" || out == orig || out.Extensions["code"] != "NOT_FOUND" {
		t.Fatalf("presenter changed or reused the original: %+v %+v", orig, out)
	}
}

// TestItemErrorsAreClassified: an error of one item of a list (path [nodes 0]) is classified
// like any other, not taken for a bad argument.
func TestItemErrorsAreClassified(t *testing.T) {
	present := presentError(slog.New(slog.NewTextHandler(io.Discard, nil)))
	fc := &graphql.FieldContext{Field: graphql.CollectedField{Field: &ast.Field{Alias: "nodes"}}}
	ctx := graphql.WithFieldContext(context.Background(), fc)
	at := ast.Path{ast.PathName("nodes"), ast.PathIndex(0)}
	down := &gqlerror.Error{Err: &pgconn.ConnectError{}, Message: "failed to connect to `user=sb database=x`", Path: at}
	if out := present(ctx, down); out.Extensions["code"] != "UNAVAILABLE" || strings.Contains(out.Message, "user=sb") {
		t.Fatalf("database down at [nodes 0]: %+v", out)
	}
	bug := &gqlerror.Error{Err: errors.New("boom"), Message: "boom", Path: at}
	if out := present(ctx, bug); out.Extensions["code"] != "INTERNAL" {
		t.Fatalf("internal error at [nodes 0]: %+v", out)
	}
	badArg := &gqlerror.Error{Err: errors.New("cannot decode cursor"), Message: "cannot decode cursor", Path: ast.Path{ast.PathName("nodes"), ast.PathName("after")}}
	if out := present(ctx, badArg); out.Extensions["code"] != "BAD_USER_INPUT" {
		t.Fatalf("bad argument: %+v", out)
	}
}

func TestGraphQLName(t *testing.T) {
	for col, want := range map[string]string{"agent_id": "agentID", "label": "label", "calls_per_minute": "callsPerMinute", "account_id": "accountID"} {
		if got := graphQLName(col); got != want {
			t.Errorf("graphQLName(%q) = %q, want %q", col, got, want)
		}
	}
}
