package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"syscall"

	"entgo.io/ent/dialect/sql/sqlgraph"
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/oklog/ulid/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/switchboard-dev/switchboard/apperr"
	"github.com/switchboard-dev/switchboard/ent"
	"github.com/switchboard-dev/switchboard/ent/privacy"
)

// Codes that gqlgen and entgql give errors in the request itself (unexported there).
const (
	complexityLimitExceeded = "COMPLEXITY_LIMIT_EXCEEDED"
	invalidPagination       = "INVALID_PAGINATION"
)

// presentError gives every error one of the contract's extensions.code values. Anything not
// recognised is INTERNAL: logged with an incident id, shown without detail.
func presentError(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		presented := graphql.DefaultErrorPresenter(ctx, err)
		out := &gqlerror.Error{Message: presented.Message, Path: presented.Path, Locations: presented.Locations}
		classified := classify(err)
		if classified.Code == apperr.Internal && requestError(ctx, err, presented) {
			out.Message = withoutBody(out.Message)
			out.Extensions = map[string]any{"code": string(apperr.BadUserInput)}
			if code, _ := presented.Extensions["code"].(string); code == string(apperr.NotFound) {
				out.Extensions["code"] = code // entgql's node lookups
			}
			return out
		}
		out.Message = classified.Message
		out.Extensions = map[string]any{"code": string(classified.Code)}
		for k, v := range classified.Extensions {
			out.Extensions[k] = v
		}
		switch classified.Code {
		case apperr.Internal:
			incident := ulid.Make().String()
			out.Message = fmt.Sprintf("something went wrong on our side (incident %s); it has been logged", incident)
			out.Extensions["incident"] = incident
			log.ErrorContext(ctx, "internal error", "incident", incident, "path", out.Path.String(), "err", err)
		case apperr.Unavailable:
			log.WarnContext(ctx, "dependency unavailable", "path", out.Path.String(), "err", err)
		}
		return out
	}
}

// requestError reports errors that gqlgen or entgql raise about the request itself, whose
// messages are written for the client: parse and validation failures, the complexity limit,
// pagination arguments, node IDs that resolve to nothing, and arguments that do not coerce
// (their path names an argument below the field being resolved).
func requestError(ctx context.Context, err error, presented *gqlerror.Error) bool {
	switch code, _ := presented.Extensions["code"].(string); code {
	case errcode.ValidationFailed, errcode.ParseFailed, complexityLimitExceeded, invalidPagination, string(apperr.NotFound):
		return true
	}
	var gqlErr *gqlerror.Error
	if errors.As(err, &gqlErr) && gqlErr.Unwrap() == nil {
		return true // made as a GraphQL error, not wrapping a Go error
	}
	if fc := graphql.GetFieldContext(ctx); fc != nil && len(presented.Path) > len(fc.Path()) {
		for _, el := range presented.Path[len(fc.Path()):] {
			if _, ok := el.(ast.PathName); ok {
				return true
			}
		}
	}
	return false
}

// withoutBody drops the copy of the request body that gqlgen appends to a JSON decoding error:
// the body may hold credentials.
func withoutBody(msg string) string {
	if before, _, found := strings.Cut(msg, " body:"); found && strings.HasPrefix(msg, "json request body could not be decoded") {
		return before + "; send a JSON object such as {\"query\": \"{ carriers { id } }\", \"variables\": {}}"
	}
	return msg
}

// classify maps an error to the public contract.
func classify(err error) *apperr.Error {
	if e, ok := apperr.As(err); ok {
		return e
	}
	var pgErr *pgconn.PgError
	switch {
	case ent.IsNotFound(err):
		return apperr.NotFoundf("not found in this account")
	case errors.Is(err, privacy.Deny):
		return apperr.Forbiddenf("this token may not do that: it needs the %s scope", "telephony:write")
	case errors.Is(err, ent.ErrEmptyPhoneNumberWhereInput), errors.Is(err, ent.ErrEmptyProviderWhereInput), errors.Is(err, ent.ErrEmptyCallWhereInput):
		return apperr.BadInput("where", "a where filter (or a not/and/or/has…With inside it) is empty: give at least one condition, or leave it out")
	case isUnavailable(err):
		return apperr.Unavailablef(err, "the service is briefly unable to reach its database or Redis; nothing was changed, try again shortly")
	case errors.As(err, &pgErr) && (pgErr.Code == "22021" || pgErr.Code == "22P05"):
		return apperr.BadInput("", "text in the request holds a character that cannot be stored (such as U+0000)")
	case sqlgraph.IsConstraintError(err):
		return apperr.Conflictf("the change conflicts with existing data")
	case ent.IsValidationError(err):
		var ve *ent.ValidationError
		errors.As(err, &ve)
		field := graphQLName(ve.Name)
		return apperr.BadInput(field, "%s has a value that is not accepted", field)
	}
	return &apperr.Error{Code: apperr.Internal, Cause: err}
}

// graphQLName turns a column name into its GraphQL field name: agent_id → agentID.
func graphQLName(column string) string {
	parts := strings.Split(column, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] == "id" {
			parts[i] = "ID"
		} else if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// isUnavailable reports failures to reach a dependency, as opposed to bugs or bad input.
func isUnavailable(err error) bool {
	var netErr net.Error
	var connectErr *pgconn.ConnectError
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &netErr), errors.As(err, &connectErr),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		pgconn.Timeout(err):
		return true
	case errors.As(err, &pgErr):
		// Class 08: connection exception; 57P0x: server shutting down or starting.
		return pgErr.Code[:2] == "08" || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	return false
}
