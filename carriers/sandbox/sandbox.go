// Package sandbox is a carrier that places no real calls. Originate answers at once with a call
// id and then plays the call's life through the request's status callbacks: ringing at once,
// answered after ring_seconds and hung up after talk_seconds more (or busy, no-answer or failed
// instead of being answered), so Switchboard's whole call lifecycle can be explored without a
// carrier account.
//
// Unlike the built-in carriers it does not register itself, and carriers/builtin does not import
// it: the server decides whether to offer it (on in the embedded default, off in production
// unless enabled) and, when it does, adds it to its carriers.Set.
//
// Credentials are {"token": "…"} plus the optional "ring_seconds" (default 1), "talk_seconds"
// (default 5) and "outcome" (completed, busy, no-answer or failed; default completed). Each
// callback is a form POST with CallID, CallStatus (ringing, in-progress, completed, busy,
// no-answer, failed) and, on the last one, Duration (talk time in seconds), signed with the
// token: X-Sandbox-Signature = base64(HMAC-SHA256(token, callbackURL + "\n" + body)). Callbacks
// of one call are delivered in order; a failed delivery is retried a few times with a short
// backoff and then dropped.
package sandbox

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/carriers"
)

// ID is the registry id of this plugin.
const ID = "sandbox"

const displayName = "Sandbox (simulated calls)"

// SignatureHeader carries the signature of each callback.
const SignatureHeader = "X-Sandbox-Signature"

// Outcomes of a simulated call.
const (
	OutcomeCompleted = "completed" // answered, then hung up after talk_seconds
	OutcomeBusy      = "busy"
	OutcomeNoAnswer  = "no-answer"
	OutcomeFailed    = "failed"
)

// Defaults for the optional credential fields.
const (
	DefaultRing = 1 * time.Second
	DefaultTalk = 5 * time.Second
)

const secondsPattern = `^[0-9]{1,4}(\.[0-9]{1,3})?$`

var fields = []carriers.FieldSpec{
	{
		Name:        "token",
		Label:       "Token",
		Description: "A random string of your choosing (16 to 128 letters, digits, _ or -); the sandbox signs its status callbacks with it.",
		Secret:      true,
		Required:    true,
		Pattern:     `^[A-Za-z0-9_-]{16,128}$`,
		Example:     "sandbox-token-0123456789",
	},
	{
		Name:        "ring_seconds",
		Label:       "Ring time (seconds)",
		Description: "How long a simulated call rings before it is answered (or turns busy, unanswered or failed); default 1.",
		Pattern:     secondsPattern,
		Example:     "1",
	},
	{
		Name:        "talk_seconds",
		Label:       "Talk time (seconds)",
		Description: "How long an answered call lasts before it hangs up; default 5.",
		Pattern:     secondsPattern,
		Example:     "5",
	},
	{
		Name:        "outcome",
		Label:       "Outcome",
		Description: "What happens after ringing: completed (answered, then hung up), busy, no-answer or failed; default completed.",
		Pattern:     `^(completed|busy|no-answer|failed)$`,
		Example:     OutcomeCompleted,
	},
}

// Carrier is the sandbox plugin; its zero value is ready to use.
type Carrier struct{}

// Info describes the plugin and its credential fields.
func (Carrier) Info() carriers.Info {
	return carriers.Info{ID: ID, DisplayName: displayName, CredentialFields: append([]carriers.FieldSpec(nil), fields...)}
}

// ParseCredentials parses a credentials document into [Credentials]. Errors are
// *carriers.FieldError.
func (Carrier) ParseCredentials(raw json.RawMessage) (carriers.Credentials, error) {
	m, err := carriers.DecodeFields(raw, "Sandbox", fields)
	if err != nil {
		return nil, err
	}
	return Credentials{Token: m["token"], RingSeconds: m["ring_seconds"], TalkSeconds: m["talk_seconds"], Outcome: m["outcome"]}, nil
}

// Credentials configure the simulation; only Token is secret.
type Credentials struct {
	Token       string `json:"token"`
	RingSeconds string `json:"ring_seconds,omitempty"`
	TalkSeconds string `json:"talk_seconds,omitempty"`
	Outcome     string `json:"outcome,omitempty"`
}

// Ring is how long a call rings.
func (c Credentials) Ring() time.Duration { return seconds(c.RingSeconds, DefaultRing) }

// Talk is how long an answered call lasts.
func (c Credentials) Talk() time.Duration { return seconds(c.TalkSeconds, DefaultTalk) }

// Result is the outcome after ringing, OutcomeCompleted unless set.
func (c Credentials) Result() string {
	if c.Outcome == "" {
		return OutcomeCompleted
	}
	return c.Outcome
}

func seconds(s string, def time.Duration) time.Duration {
	if d, err := carriers.ParseSeconds(s); err == nil {
		return d
	}
	return def
}

// Hint describes the simulation, e.g. "sandbox: rings 1s, then completed after 5s".
func (c Credentials) Hint() string {
	if c.Result() != OutcomeCompleted {
		return fmt.Sprintf("sandbox: rings %s, then %s", c.Ring(), c.Result())
	}
	return fmt.Sprintf("sandbox: rings %s, then completed after %s", c.Ring(), c.Talk())
}

// String describes the credentials without the token, so logging them is safe.
func (c Credentials) String() string { return c.Hint() + " (token redacted)" }

// GoString is String, so %#v does not print the token either.
func (c Credentials) GoString() string { return c.String() }

// LogValue keeps the token out of log/slog output.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// VerifyCredentials accepts any parsed credentials: there is no account to ask.
func (Carrier) VerifyCredentials(context.Context, carriers.Credentials) error { return nil }

// Originate returns a call id ("SB" and 32 hexadecimal digits) at once and starts posting the
// call's callbacks to r.StatusCallbackURL in the background, independent of ctx.
func (Carrier) Originate(ctx context.Context, creds carriers.Credentials, r carriers.OriginateRequest) (carriers.OriginateResult, error) {
	cr, err := carriers.CredentialsAs[Credentials](ID, creds)
	if err != nil {
		return carriers.OriginateResult{}, err
	}
	if err := r.Validate(ID); err != nil {
		return carriers.OriginateResult{}, err
	}
	if ctx.Err() != nil {
		return carriers.OriginateResult{}, &carriers.Error{Carrier: ID, Code: "canceled", Message: "the request ended before the call was placed"}
	}
	id := make([]byte, 16)
	rand.Read(id)
	call := simulation{creds: cr, url: r.StatusCallbackURL, id: "SB" + hex.EncodeToString(id)}
	go call.run()
	return carriers.OriginateResult{ProviderCallID: call.id}, nil
}

// Delivery of callbacks.
var (
	callbackClient  = &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	deliveryBackoff = []time.Duration{0, 100 * time.Millisecond, 400 * time.Millisecond, 1600 * time.Millisecond}
)

// simulation is one call's life.
type simulation struct {
	creds Credentials
	url   string
	id    string
}

func (s simulation) run() {
	s.post("ringing", "")
	time.Sleep(s.creds.Ring())
	if outcome := s.creds.Result(); outcome != OutcomeCompleted {
		s.post(outcome, "")
		return
	}
	s.post("in-progress", "")
	time.Sleep(s.creds.Talk())
	s.post("completed", strconv.FormatFloat(s.creds.Talk().Seconds(), 'f', -1, 64))
}

// post delivers one signed callback, trying again after each backoff until a 2xx reply.
func (s simulation) post(status, duration string) {
	form := url.Values{"CallID": {s.id}, "CallStatus": {status}}
	if duration != "" {
		form.Set("Duration", duration)
	}
	body := form.Encode()
	sig := Sign(s.creds.Token, s.url, body)
	for _, wait := range deliveryBackoff {
		time.Sleep(wait)
		req, err := http.NewRequest(http.MethodPost, s.url, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(SignatureHeader, sig)
		res, err := callbackClient.Do(req)
		if err != nil {
			continue
		}
		io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
		res.Body.Close()
		if res.StatusCode >= 200 && res.StatusCode <= 299 {
			return
		}
	}
}

// Sign returns the X-Sandbox-Signature of a callback with body posted to callbackURL.
func Sign(token, callbackURL, body string) string {
	return carriers.SignHMAC(sha256.New, token, callbackURL+"\n"+body)
}

// statuses maps the sandbox's CallStatus words.
var statuses = map[string]carriers.CallStatus{
	"ringing":     carriers.StatusRinging,
	"in-progress": carriers.StatusInProgress,
	"completed":   carriers.StatusCompleted,
	"busy":        carriers.StatusBusy,
	"no-answer":   carriers.StatusNoAnswer,
	"failed":      carriers.StatusFailed,
}

// ParseStatusCallback checks X-Sandbox-Signature with creds' token and reads the event.
func (Carrier) ParseStatusCallback(r *http.Request, callbackURL string, creds carriers.Credentials) (carriers.StatusEvent, error) {
	cr, err := carriers.CredentialsAs[Credentials](ID, creds)
	if err != nil {
		return carriers.StatusEvent{}, carriers.BadSignature(ID, err.Error())
	}
	sig := r.Header.Get(SignatureHeader)
	if sig == "" {
		return carriers.StatusEvent{}, carriers.BadSignature(ID, "the "+SignatureHeader+" header is missing")
	}
	body, form, err := carriers.ReadCallbackForm(r)
	if err != nil {
		return carriers.StatusEvent{}, fmt.Errorf("%s: %w", ID, err)
	}
	if !carriers.MatchHMAC(sha256.New, cr.Token, sig, callbackURL+"\n"+string(body)) {
		return carriers.StatusEvent{}, carriers.BadSignature(ID, "it does not match the callback URL, body and token")
	}
	ev := carriers.StatusEvent{ProviderCallID: strings.TrimSpace(form.Get("CallID"))}
	if ev.ProviderCallID == "" {
		return carriers.StatusEvent{}, fmt.Errorf("%s status callback has no CallID", ID)
	}
	if ev.Status, err = carriers.LookupStatus(ID, statuses, form.Get("CallStatus")); err != nil {
		return carriers.StatusEvent{}, err
	}
	if ev.Status.Terminal() {
		ev.Duration, err = carriers.FormDuration(ID, form, "Duration")
	}
	return ev, err
}
