// Package auth decides who is calling from an HTTP request: a JWT bearer
// token (HS256 with a shared secret, or asymmetric keys from a JWKS URL) or,
// behind a trusted gateway, an X-Account-ID header. It knows nothing about
// GraphQL or the database.
package auth

import (
	"context"
	"errors"
	"net/http"
	"unicode"
	"unicode/utf8"
)

// Scopes carried in a token's "scope" claim.
const (
	// ScopeRead allows reading the account's telephony data.
	ScopeRead = "telephony:read"
	// ScopeWrite allows changing the account's telephony data (and implies read).
	ScopeWrite = "telephony:write"
)

// AccountHeader is the header naming the tenant when Config.TrustAccountHeader is set.
const AccountHeader = "X-Account-ID"

// maxAccountIDLen is the longest accepted account id, in characters.
const maxAccountIDLen = 128

// Viewer is the authenticated caller: one account (tenant) and what it may do.
type Viewer struct {
	AccountID string
	Read      bool
	Write     bool
}

// ErrNoCredentials means the request carried no credentials at all.
var ErrNoCredentials = errors.New("no credentials: send an Authorization: Bearer <token> header")

// Error is an authentication failure. Reason is safe to show to the caller:
// it never contains the token, the secret or claim values.
type Error struct {
	Reason string
}

// Error implements error.
func (e *Error) Error() string { return "authentication failed: " + e.Reason }

func fail(reason string) *Error { return &Error{Reason: reason} }

type viewerKey struct{}

type errKey struct{}

// NewContext returns a copy of ctx carrying v.
func NewContext(ctx context.Context, v Viewer) context.Context {
	return context.WithValue(ctx, viewerKey{}, v)
}

// FromContext returns the Viewer stored in ctx, if any.
func FromContext(ctx context.Context) (Viewer, bool) {
	v, ok := ctx.Value(viewerKey{}).(Viewer)
	return v, ok
}

// ErrorFromContext returns the authentication error stored by Middleware, or nil.
func ErrorFromContext(ctx context.Context) error {
	err, _ := ctx.Value(errKey{}).(error)
	return err
}

// Middleware authenticates every request and never rejects one: it stores
// the Viewer, or the authentication error, in the request context and calls
// next. The layer behind it decides what an unauthenticated caller may do.
func Middleware(a *Authenticator, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := a.Authenticate(r)
		ctx := r.Context()
		if err != nil {
			ctx = context.WithValue(ctx, errKey{}, err)
		} else {
			ctx = NewContext(ctx, v)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// validAccountID reports whether s is an acceptable account id: non-empty,
// valid UTF-8, at most 128 characters, no whitespace, control or invisible
// format characters.
func validAccountID(s string) bool {
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxAccountIDLen {
		return false
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return false
		}
	}
	return true
}
