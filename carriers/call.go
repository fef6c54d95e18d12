package carriers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// OriginateRequest asks a carrier to place one outbound call.
type OriginateRequest struct {
	From, To          string        // E.164, e.g. "+14155550123"
	AnswerURL         string        // where the carrier fetches call instructions
	StatusCallbackURL string        // absolute URL the carrier must POST status changes to (signed by the carrier); its query string is kept verbatim
	RingTimeout       time.Duration // how long to ring before giving up; 0 = the carrier's default
	SessionID         string        // Switchboard's stable id for the call (opaque to real carriers)
}

// CodeInvalidRequest is the [Error.Code] of a request a plugin refused before sending anything.
const CodeInvalidRequest = "invalid_request"

// Validate checks what every carrier needs: From and To in E.164 form, AnswerURL and
// StatusCallbackURL absolute http(s) URLs, and a non-negative RingTimeout. Its error is an
// *[Error] for carrier (with HTTPStatus 0: nothing was sent).
func (r OriginateRequest) Validate(carrier string) error {
	bad := func(format string, args ...any) error {
		return &Error{Carrier: carrier, Code: CodeInvalidRequest, Message: fmt.Sprintf(format, args...)}
	}
	for _, n := range []struct{ name, value string }{{"From", r.From}, {"To", r.To}} {
		if !isE164(n.value) {
			return bad("%s must be an E.164 number: + then 7 to 15 digits, the first not 0", n.name)
		}
	}
	for _, u := range []struct{ name, value string }{{"AnswerURL", r.AnswerURL}, {"StatusCallbackURL", r.StatusCallbackURL}} {
		if !isHTTPURL(u.value) {
			return bad("%s must be an absolute http or https URL", u.name)
		}
	}
	if r.RingTimeout < 0 {
		return bad("RingTimeout must not be negative")
	}
	return nil
}

// RingTimeoutSeconds is RingTimeout in whole seconds, rounded up; 0 when RingTimeout is 0.
func (r OriginateRequest) RingTimeoutSeconds() int {
	if r.RingTimeout <= 0 {
		return 0
	}
	return int((r.RingTimeout + time.Second - 1) / time.Second)
}

// isE164 mirrors the e164 package (which plugins may not import): "+", then 7 to 15 ASCII
// digits, the first not 0.
func isE164(s string) bool {
	digits := len(s) - 1
	ok := len(s) > 0 && s[0] == '+' && digits >= 7 && digits <= 15 && s[1] != '0'
	for i := 1; ok && i < len(s); i++ {
		ok = s[i] >= '0' && s[i] <= '9'
	}
	return ok
}

// isHTTPURL reports whether s is an absolute http or https URL with a host.
func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
}

// OriginateResult is what a carrier returned for a placed call.
type OriginateResult struct {
	ProviderCallID string // the carrier's id for the call; status callbacks carry the same id
}

// CallStatus is where a call is in its life, in Switchboard's words (each plugin maps its
// carrier's words onto these).
type CallStatus string

// The call statuses. QUEUED, RINGING and IN_PROGRESS are live; the rest are terminal.
const (
	StatusQueued     CallStatus = "QUEUED"
	StatusRinging    CallStatus = "RINGING"
	StatusInProgress CallStatus = "IN_PROGRESS"
	StatusCompleted  CallStatus = "COMPLETED"
	StatusBusy       CallStatus = "BUSY"
	StatusNoAnswer   CallStatus = "NO_ANSWER"
	StatusFailed     CallStatus = "FAILED"
	StatusCanceled   CallStatus = "CANCELED"
)

// Terminal reports whether the call has ended.
func (s CallStatus) Terminal() bool {
	switch s {
	case StatusCompleted, StatusBusy, StatusNoAnswer, StatusFailed, StatusCanceled:
		return true
	}
	return false
}

// Rank orders statuses so transitions can be kept forward-only: QUEUED (1) < RINGING (2) <
// IN_PROGRESS (3) < every terminal status (4, all equal). An unknown status ranks 0.
func (s CallStatus) Rank() int {
	switch s {
	case StatusQueued:
		return 1
	case StatusRinging:
		return 2
	case StatusInProgress:
		return 3
	}
	if s.Terminal() {
		return 4
	}
	return 0
}

// StatusEvent is one verified status callback.
type StatusEvent struct {
	ProviderCallID string
	Status         CallStatus
	Duration       time.Duration // talk time, set on terminal events when the carrier reports it
	Reason         string        // the carrier's hangup cause or failure text; may be ""
}

// Error is a carrier's definite refusal: it answered with a 4xx status (or the plugin refused the
// request before sending it, HTTPStatus 0), so no call exists. A 5xx reply is no refusal: see
// [ErrOutcomeUnknown].
type Error struct {
	Carrier    string // plugin id
	HTTPStatus int    // the carrier's reply status; 0 when nothing was sent
	Code       string // the carrier's own error code ("21211"), or the HTTP status as text when the body has none
	Message    string // readable, from the carrier's body; never contains credentials
}

// Error returns e.g. `twilio refused the request (HTTP 400, code 21211): The 'To' number is not valid`.
func (e *Error) Error() string {
	if e == nil {
		return "<nil>"
	}
	var b strings.Builder
	b.WriteString(e.Carrier)
	if e.HTTPStatus == 0 {
		b.WriteString(" request not sent")
	} else {
		fmt.Fprintf(&b, " refused the request (HTTP %d", e.HTTPStatus)
		if e.Code != "" && e.Code != fmt.Sprint(e.HTTPStatus) {
			fmt.Fprintf(&b, ", code %s", e.Code)
		}
		b.WriteString(")")
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// ErrOutcomeUnknown is wrapped by errors from a create-call request that may have reached the
// carrier without a definite answer coming back (timeout, connection reset, unreadable or
// incomplete reply, any 5xx reply): the call may exist. Callers must not retry it.
var ErrOutcomeUnknown = errors.New("outcome unknown: the carrier may have placed the call")

// ErrBadSignature is wrapped by errors from [CallbackParser.ParseStatusCallback] when a status
// callback's signature is missing or wrong.
var ErrBadSignature = errors.New("status callback signature is missing or wrong")

// Verifier is implemented by plugins that can check credentials against the carrier cheaply.
type Verifier interface {
	// VerifyCredentials returns nil when the carrier accepts c, an *Error when it refuses them
	// (e.g. HTTP 401), and any other error when it could not tell (unreachable, 5xx, rate limit).
	VerifyCredentials(ctx context.Context, c Credentials) error
}

// CallbackParser is implemented by plugins whose carrier posts status callbacks.
type CallbackParser interface {
	// ParseStatusCallback verifies r's signature with c's token, treating callbackURL as the
	// exact URL the carrier was given (scheme://host[:port]/path?query: the server rebuilds it
	// from its public URL, because behind a proxy r.URL lacks scheme and host), and returns the
	// event. It reads r's body. A missing or wrong signature gives an error wrapping
	// [ErrBadSignature]; a well-signed but malformed callback gives another error.
	ParseStatusCallback(r *http.Request, callbackURL string, c Credentials) (StatusEvent, error)
}

// Rebaser is implemented by plugins whose API base URL can be changed (fake servers in tests,
// regional edges in production).
type Rebaser interface {
	// WithBaseURL returns a copy of the plugin that sends its API requests to base (scheme and
	// host, and optionally a path prefix, without a trailing slash).
	WithBaseURL(base string) Carrier
}

// CredentialsAs returns c as the plugin's own credentials type T, or an *Error for carrier when
// c is another plugin's (a wiring mistake, caught before anything is sent).
func CredentialsAs[T Credentials](carrier string, c Credentials) (T, error) {
	t, ok := c.(T)
	if !ok {
		var zero T
		return zero, wrongCredentials(carrier, c)
	}
	return t, nil
}

func wrongCredentials(carrier string, c Credentials) *Error {
	return &Error{Carrier: carrier, Code: CodeInvalidRequest,
		Message: fmt.Sprintf("credentials of type %T are not %s credentials", c, carrier)}
}
