// Package apperr carries the failures a caller can act on, each with one of the public error
// codes of the GraphQL contract. Packages below the GraphQL layer return *Error; the GraphQL
// error presenter turns it into an error with extensions.code. Any other error is reported to
// the caller as INTERNAL without detail.
package apperr

import (
	"errors"
	"fmt"
)

// Code is a public error code (extensions.code).
type Code string

// The public error codes.
const (
	Unauthenticated    Code = "UNAUTHENTICATED"
	Forbidden          Code = "FORBIDDEN"
	BadUserInput       Code = "BAD_USER_INPUT"
	NotFound           Code = "NOT_FOUND"
	Conflict           Code = "CONFLICT"
	CapExceeded        Code = "CAP_EXCEEDED"
	CallerIDNotAllowed Code = "CALLER_ID_NOT_ALLOWED"
	CarrierError       Code = "CARRIER_ERROR"
	Unavailable        Code = "UNAVAILABLE"
	Internal           Code = "INTERNAL"
)

// Error is a failure reported to the caller. Message is written for the person who sent the
// request and never contains a secret; Cause is for the server's logs only.
type Error struct {
	Code       Code
	Message    string
	Extensions map[string]any // extra public fields, e.g. "field"
	Cause      error
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// CodeOf returns the code of the *Error in err's chain, or Internal.
func CodeOf(err error) Code {
	if e, ok := As(err); ok {
		return e.Code
	}
	return Internal
}

func newf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// New reports an error with this code and public extensions (nil for none), for the codes
// that carry details of their own: CAP_EXCEEDED's dimension, CARRIER_ERROR's carrierCode, ….
func New(code Code, extensions map[string]any, format string, args ...any) *Error {
	e := newf(code, format, args...)
	e.Extensions = extensions
	return e
}

// BadInput reports invalid input in field (a path such as "e164" or "credentials.account_sid";
// "" when no single field is at fault).
func BadInput(field, format string, args ...any) *Error {
	e := newf(BadUserInput, format, args...)
	if field != "" {
		e.Extensions = map[string]any{"field": field}
	}
	return e
}

// NotFoundf reports something that does not exist for this caller.
func NotFoundf(format string, args ...any) *Error { return newf(NotFound, format, args...) }

// Conflictf reports a request that clashes with the current state.
func Conflictf(format string, args ...any) *Error { return newf(Conflict, format, args...) }

// Forbiddenf reports an authenticated caller who may not do this.
func Forbiddenf(format string, args ...any) *Error { return newf(Forbidden, format, args...) }

// Unauthenticatedf reports a request without valid credentials.
func Unauthenticatedf(format string, args ...any) *Error {
	return newf(Unauthenticated, format, args...)
}

// Unavailablef reports a dependency (database, Redis, key service) that is down; cause is logged.
func Unavailablef(cause error, format string, args ...any) *Error {
	e := newf(Unavailable, format, args...)
	e.Cause = cause
	return e
}
