package carriertest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/carriers"
)

// callbackURL is where the sample request asks for status callbacks.
const callbackURL = "https://switchboard.example/webhooks/carrier/prov_01J?k=v&x=1"

// SampleRequest returns a well-formed request, for plugin tests.
func SampleRequest() carriers.OriginateRequest {
	return carriers.OriginateRequest{
		From:              "+14155550100",
		To:                "+14155550123",
		AnswerURL:         "https://switchboard.example/answer/call_01J",
		StatusCallbackURL: callbackURL,
		RingTimeout:       29500 * time.Millisecond,
		SessionID:         "call_01J",
	}
}

// badRequests are requests every plugin must refuse before sending anything.
func badRequests() map[string]carriers.OriginateRequest {
	bad := map[string]func(*carriers.OriginateRequest){
		"empty From":                    func(r *carriers.OriginateRequest) { r.From = "" },
		"To without +":                  func(r *carriers.OriginateRequest) { r.To = "14155550123" },
		"To with two numbers":           func(r *carriers.OriginateRequest) { r.To = "+14155550123<+14155550124" },
		"To with a SIP URI":             func(r *carriers.OriginateRequest) { r.To = "sip:someone@example.com" },
		"relative AnswerURL":            func(r *carriers.OriginateRequest) { r.AnswerURL = "/answer" },
		"ftp StatusCallbackURL":         func(r *carriers.OriginateRequest) { r.StatusCallbackURL = "ftp://switchboard.example/cb" },
		"empty StatusCallbackURL":       func(r *carriers.OriginateRequest) { r.StatusCallbackURL = "" },
		"StatusCallbackURL with a user": func(r *carriers.OriginateRequest) { r.StatusCallbackURL = "https://u:p@switchboard.example/cb" },
		"negative RingTimeout":          func(r *carriers.OriginateRequest) { r.RingTimeout = -time.Second },
	}
	out := make(map[string]carriers.OriginateRequest, len(bad))
	for name, mod := range bad {
		r := SampleRequest()
		mod(&r)
		out[name] = r
	}
	return out
}

// originate calls c.Originate, turning a panic into a report.
func originate(r reporter, what string, c carriers.Carrier, creds carriers.Credentials, req carriers.OriginateRequest) (err error, ok bool) {
	r.Helper()
	defer func() {
		if p := recover(); p != nil {
			r.Errorf("%s: Originate panicked: %v", what, p)
			ok = false
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := c.Originate(ctx, creds, req)
	if err == nil {
		r.Errorf("%s: Originate succeeded with %+v, want an error", what, res)
		return nil, false
	}
	return err, true
}

// expectRefusal reports unless err is a *carriers.Error with the HTTP status want (-1: any).
func expectRefusal(r reporter, what string, err error, want int) {
	r.Helper()
	var ce *carriers.Error
	switch {
	case !errors.As(err, &ce) || ce == nil:
		r.Errorf("%s: error %q (%T) is not a *carriers.Error", what, err, err)
	case errors.Is(err, carriers.ErrOutcomeUnknown):
		r.Errorf("%s: error %q is a *carriers.Error but also wraps ErrOutcomeUnknown", what, err)
	case want >= 0 && ce.HTTPStatus != want:
		r.Errorf("%s: Error.HTTPStatus = %d, want %d", what, ce.HTTPStatus, want)
	}
}

// expectUnknown reports unless err wraps carriers.ErrOutcomeUnknown and is not a
// *carriers.Error: a caller that finds a *carriers.Error takes the call for refused and frees
// its slot, though it may ring.
func expectUnknown(r reporter, what string, err error) {
	r.Helper()
	var ce *carriers.Error
	switch {
	case !errors.Is(err, carriers.ErrOutcomeUnknown):
		r.Errorf("%s: error %q does not wrap carriers.ErrOutcomeUnknown", what, err)
	case errors.As(err, &ce):
		r.Errorf("%s: error %q wraps carriers.ErrOutcomeUnknown but is also a *carriers.Error", what, err)
	}
}

// checkOriginate checks the calling side of the contract; see [Conformance].
func checkOriginate(r reporter, c carriers.Carrier, creds carriers.Credentials, secrets []string) {
	r.Helper()
	var errs []error
	noSecrets := func() {
		r.Helper()
		for _, err := range errs {
			for _, s := range secrets {
				if err != nil && strings.Contains(err.Error(), s) {
					r.Errorf("error %q shows the value of a secret field", err)
				}
			}
		}
	}
	defer noSecrets()

	target := c
	var fake *Server
	if rb, ok := c.(carriers.Rebaser); ok {
		fake = NewServer()
		defer fake.Close()
		target = rb.WithBaseURL(fake.URL)
		if target == nil || target.Info().ID != c.Info().ID {
			r.Errorf("WithBaseURL returned %v, want the same plugin (id %q)", target, c.Info().ID)
			return
		}
	}
	for name, req := range badRequests() {
		if err, ok := originate(r, name, target, creds, req); ok {
			expectRefusal(r, name, err, 0)
			errs = append(errs, err)
		}
	}
	if fake == nil {
		return
	}
	if n := len(fake.Requests()); n != 0 {
		r.Errorf("malformed requests reached the carrier: %d HTTP requests were sent", n)
	}

	onlyOnce := func(what string) {
		r.Helper()
		if n := len(fake.Requests()); n != 1 {
			r.Errorf("%s: the carrier received %d requests, want exactly 1 (a create-call request is never retried)", what, n)
		}
	}
	fake.Reply(http.StatusBadRequest, `{}`)
	if err, ok := originate(r, "HTTP 400", target, creds, SampleRequest()); ok {
		expectRefusal(r, "HTTP 400", err, http.StatusBadRequest)
		errs = append(errs, err)
	}
	onlyOnce("HTTP 400")

	// A 5xx may come after the carrier created the call: the outcome is unknown.
	for _, status := range []int{http.StatusInternalServerError, http.StatusServiceUnavailable} {
		what := fmt.Sprintf("HTTP %d", status)
		fake.Reply(status, `{}`)
		if err, ok := originate(r, what, target, creds, SampleRequest()); ok {
			expectUnknown(r, what, err)
			errs = append(errs, err)
		}
		onlyOnce(what)
	}

	fake.Reply(http.StatusCreated, `{}`)
	if err, ok := originate(r, "HTTP 201 without a call id", target, creds, SampleRequest()); ok {
		expectUnknown(r, "HTTP 201 without a call id", err)
		errs = append(errs, err)
	}
	onlyOnce("HTTP 201 without a call id")

	unreachable := c.(carriers.Rebaser).WithBaseURL(UnreachableURL())
	start := time.Now()
	if err, ok := originate(r, "unreachable carrier", unreachable, creds, SampleRequest()); ok {
		expectUnknown(r, "unreachable carrier", err)
		errs = append(errs, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		r.Errorf("unreachable carrier: Originate took %v to give up on a refused connection", d.Round(time.Millisecond))
	}

	if v, ok := target.(carriers.Verifier); ok {
		fake.Reply(http.StatusUnauthorized, `{}`)
		err := v.VerifyCredentials(context.Background(), creds)
		expectRefusal(r, "VerifyCredentials with HTTP 401", err, http.StatusUnauthorized)
		errs = append(errs, err)
		err = unreachable.(carriers.Verifier).VerifyCredentials(context.Background(), creds)
		var ce *carriers.Error
		if err == nil || errors.As(err, &ce) {
			r.Errorf("VerifyCredentials against an unreachable carrier: got %v, want an error that is not a *carriers.Error (it could not tell)", err)
		}
		errs = append(errs, err)
	}
}

// checkCallbacks checks that an unsigned status callback is refused.
func checkCallbacks(r reporter, c carriers.Carrier, creds carriers.Credentials) {
	r.Helper()
	cp, ok := c.(carriers.CallbackParser)
	if !ok {
		return
	}
	body := "CallSid=CA1&CallUUID=u-1&RequestUUID=u-1&CallID=SB1&CallStatus=completed&Duration=5&CallDuration=5"
	req := httptest.NewRequest(http.MethodPost, callbackURL, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panic: %v", p)
			}
		}()
		ev, err := cp.ParseStatusCallback(req, callbackURL, creds)
		if err == nil {
			return fmt.Errorf("accepted as %+v", ev)
		}
		return err
	}()
	if !errors.Is(err, carriers.ErrBadSignature) {
		r.Errorf("an unsigned status callback: got %v, want an error wrapping carriers.ErrBadSignature", err)
	}
}
