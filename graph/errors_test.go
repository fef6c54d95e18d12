package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
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
