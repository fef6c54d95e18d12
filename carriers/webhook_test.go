package carriers

import (
	"crypto/sha256"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestReadCallbackForm(t *testing.T) {
	req := func(method, ct, body string) *http.Request {
		r := httptest.NewRequest(method, "/cb?q=1", strings.NewReader(body))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		return r
	}
	body, form, err := ReadCallbackForm(req(http.MethodPost, "application/x-www-form-urlencoded; charset=utf-8", "a=1&b=%2B2"))
	if err != nil || string(body) != "a=1&b=%2B2" || form.Get("b") != "+2" || form.Has("q") {
		t.Errorf("got %q %v %v", body, form, err)
	}
	for name, r := range map[string]*http.Request{
		"GET":       req(http.MethodGet, "", ""),
		"JSON":      req(http.MethodPost, "application/json", `{}`),
		"too large": req(http.MethodPost, "", strings.Repeat("a", maxCallbackSize+1)),
		"bad form":  req(http.MethodPost, "", "a=%zz"),
	} {
		if _, _, err := ReadCallbackForm(r); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestMatchHMAC(t *testing.T) {
	sig := SignHMAC(sha256.New, "key", "msg")
	for _, tt := range []struct {
		key, header string
		messages    []string
		want        bool
	}{
		{"key", sig, []string{"msg"}, true},
		{"key", "x=, " + sig + " ,y=", []string{"other", "msg"}, true},
		{"key", sig, []string{"msg2"}, false},
		{"other", sig, []string{"msg"}, false},
		{"", SignHMAC(sha256.New, "", "msg"), []string{"msg"}, false},
		{"key", "", []string{"msg"}, false},
		{"key", sig, nil, false},
	} {
		if got := MatchHMAC(sha256.New, tt.key, tt.header, tt.messages...); got != tt.want {
			t.Errorf("MatchHMAC(%q, %q, %q) = %v", tt.key, tt.header, tt.messages, got)
		}
	}
	if err := BadSignature("x", "why"); !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "why") {
		t.Errorf("BadSignature: %v", err)
	}
}

func TestConcatSorted(t *testing.T) {
	form := url.Values{"To": {"+1"}, "Reason": {"P"}, "ReasonConferenceEnded": {"t"}, "A": {"2", "1"}}
	if got, want := ConcatSorted(form), "A1A2ReasonPReasonConferenceEndedtTo+1"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestParseSeconds(t *testing.T) {
	for s, want := range map[string]time.Duration{"0": 0, "42": 42 * time.Second, "0.05": 50 * time.Millisecond, " 7 ": 7 * time.Second} {
		if got, err := ParseSeconds(s); err != nil || got != want {
			t.Errorf("%q: %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "-1", "1e3", "NaN", "1.", ".5", "1,5", "1234567890"} {
		if _, err := ParseSeconds(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestPlivoStyleStatus(t *testing.T) {
	p := PlivoStyle{Carrier: "plivo"}
	for word, want := range map[string]CallStatus{
		"queued": StatusQueued, "ringing": StatusRinging, "in-progress": StatusInProgress,
		"completed": StatusCompleted, "busy": StatusBusy, "failed": StatusFailed,
		"timeout": StatusNoAnswer, "no-answer": StatusNoAnswer,
		"cancel": StatusCanceled, "canceled": StatusCanceled, "cancelled": StatusCanceled, " Busy ": StatusBusy,
	} {
		if got, err := p.Status(word); got != want || err != nil {
			t.Errorf("%q: %q, %v; want %q", word, got, err, want)
		}
	}
	for _, word := range []string{"", "answered", "hangup"} {
		if _, err := p.Status(word); err == nil || !strings.Contains(err.Error(), "plivo") {
			t.Errorf("%q: got %v, want an error naming the carrier", word, err)
		}
	}
}
