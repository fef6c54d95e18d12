package carriertest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/carriers"
)

// ReplyCase is an error reply of a fake carrier and what the carrier said in it. A 4xx reply must
// become a *carriers.Error with that Code and Message. A 5xx reply must become an error wrapping
// carriers.ErrOutcomeUnknown (the carrier may have created the call before failing) whose text
// still shows "HTTP <Status>", the Code and the Message.
type ReplyCase struct {
	Status        int    // HTTP status of the reply
	Body          string // the carrier's error document
	Code, Message string // the carrier's code (the status as text when the body has none) and message
}

// MustParse parses doc with c or stops the test.
func MustParse(t *testing.T, c carriers.Carrier, doc string) carriers.Credentials {
	t.Helper()
	creds, err := c.ParseCredentials(json.RawMessage(doc))
	if err != nil {
		t.Fatalf("ParseCredentials: %v", err)
	}
	return creds
}

// CheckOriginateRequest points c at a fake [Server] that answers 201 with reply, checks that
// Originate(r) returns wantID after exactly one request, and returns that request for the
// caller to check field by field.
func CheckOriginateRequest(t *testing.T, c carriers.Carrier, creds carriers.Credentials, r carriers.OriginateRequest, reply, wantID string) Request {
	t.Helper()
	srv := NewServer()
	defer srv.Close()
	srv.Reply(http.StatusCreated, reply)
	res, err := rebase(t, c, srv.URL).Originate(context.Background(), creds, r)
	if err != nil || res.ProviderCallID != wantID {
		t.Fatalf("Originate = %+v, %v; want ProviderCallID %q", res, err, wantID)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("Originate sent %d requests, want 1", len(reqs))
	}
	return reqs[0]
}

// JSONBody decodes r's body, which must be a JSON object with Content-Type application/json.
func JSONBody(t *testing.T, r Request) map[string]any {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.Body, err)
	}
	return body
}

// FormCallback builds a status callback POST to callbackURL's path and query carrying form,
// with the given header names and values (pairs; a pair with an empty value is left out).
func FormCallback(callbackURL string, form url.Values, headers ...string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, callbackURL, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] != "" {
			r.Header.Set(headers[i], headers[i+1])
		}
	}
	return r
}

// rebase points c at base; c must be a carriers.Rebaser.
func rebase(t *testing.T, c carriers.Carrier, base string) carriers.Carrier {
	t.Helper()
	rb, ok := c.(carriers.Rebaser)
	if !ok {
		t.Fatalf("%T is not a carriers.Rebaser", c)
	}
	return rb.WithBaseURL(base)
}

// CheckOriginateReplies points c (a carriers.Rebaser whose timeout is short: one check waits for
// it) at a fake [Server] and checks that Originate(r) makes each case's reply into what
// [ReplyCase] says; that a 201 whose body is noID, a 502, a 504 and a server that never answers
// give errors wrapping carriers.ErrOutcomeUnknown; and that every time exactly one request was
// sent.
func CheckOriginateReplies(t *testing.T, c carriers.Carrier, creds carriers.Credentials, r carriers.OriginateRequest, noID string, cases ...ReplyCase) {
	t.Helper()
	srv := NewServer()
	defer srv.Close()
	c = rebase(t, c, srv.URL)
	originate := func(what string) error {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		res, err := c.Originate(ctx, creds, r)
		if err == nil {
			t.Errorf("%s: Originate succeeded with %+v", what, res)
		}
		if n := len(srv.Requests()); n != 1 {
			t.Errorf("%s: %d requests were sent, want exactly 1", what, n)
		}
		return err
	}
	for _, tc := range cases {
		srv.Reply(tc.Status, tc.Body)
		what := http.StatusText(tc.Status) + " " + tc.Body
		err := originate(what)
		var ce *carriers.Error
		if tc.Status >= 500 {
			if !errors.Is(err, carriers.ErrOutcomeUnknown) || errors.As(err, &ce) {
				t.Errorf("%s: error %v (%T) does not wrap ErrOutcomeUnknown, or is a *carriers.Error: a 5xx does not prove that no call exists", what, err, err)
				continue
			}
			for _, part := range []string{"HTTP " + strconv.Itoa(tc.Status), tc.Code, tc.Message} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("%s: error %q does not show %q", what, err, part)
				}
			}
			continue
		}
		switch {
		case !errors.As(err, &ce):
			t.Errorf("%s: error %v (%T) is not a *carriers.Error", what, err, err)
		case errors.Is(err, carriers.ErrOutcomeUnknown):
			t.Errorf("%s: error %v also wraps ErrOutcomeUnknown", what, err)
		case ce.Carrier != c.Info().ID || ce.HTTPStatus != tc.Status || ce.Code != tc.Code || ce.Message != tc.Message:
			t.Errorf("%s: got %#v, want Carrier %q, HTTPStatus %d, Code %q, Message %q", what, *ce, c.Info().ID, tc.Status, tc.Code, tc.Message)
		}
	}
	unknown := func(what string) {
		t.Helper()
		if err := originate(what); !errors.Is(err, carriers.ErrOutcomeUnknown) {
			t.Errorf("%s: error %v does not wrap ErrOutcomeUnknown", what, err)
		}
	}
	srv.Reply(http.StatusCreated, noID)
	unknown("201 without a call id")
	srv.Reply(http.StatusBadGateway, "<html>bad gateway</html>")
	unknown("502")
	srv.Reply(http.StatusGatewayTimeout, "{}")
	unknown("504")
	srv.Hang()
	start := time.Now()
	unknown("no answer")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("no answer: Originate gave up after %v; give the plugin a short timeout in tests", d)
	}
}

// CheckVerify points c (a carriers.Rebaser and carriers.Verifier) at a fake [Server] and checks
// that VerifyCredentials sends one request, which inspect checks, and returns nil for a 200 reply
// with okBody and refusal's *carriers.Error for refusal's reply.
func CheckVerify(t *testing.T, c carriers.Carrier, creds carriers.Credentials, okBody string, inspect func(t *testing.T, r Request), refusal ReplyCase) {
	t.Helper()
	srv := NewServer()
	defer srv.Close()
	v, ok := rebase(t, c, srv.URL).(carriers.Verifier)
	if !ok {
		t.Fatalf("%T is not a carriers.Verifier", c)
	}
	srv.Reply(http.StatusOK, okBody)
	if err := v.VerifyCredentials(context.Background(), creds); err != nil {
		t.Errorf("VerifyCredentials with a 200 reply: %v", err)
	}
	if reqs := srv.Requests(); len(reqs) != 1 {
		t.Errorf("VerifyCredentials sent %d requests, want 1", len(reqs))
	} else {
		inspect(t, reqs[0])
	}
	srv.Reply(refusal.Status, refusal.Body)
	err := v.VerifyCredentials(context.Background(), creds)
	var ce *carriers.Error
	if !errors.As(err, &ce) || ce.HTTPStatus != refusal.Status || ce.Code != refusal.Code || ce.Message != refusal.Message {
		t.Errorf("VerifyCredentials with HTTP %d: got %v, want a *carriers.Error with Code %q and Message %q", refusal.Status, err, refusal.Code, refusal.Message)
	}
}
