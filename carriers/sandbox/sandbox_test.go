package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/carriers"
	"github.com/switchboard-dev/switchboard/carriers/carriertest"
	"github.com/switchboard-dev/switchboard/carriers/sandbox"
)

const token = "sandbox-test-token-0123456789"

func creds(t *testing.T, extra string) carriers.Credentials {
	t.Helper()
	c, err := sandbox.Carrier{}.ParseCredentials(json.RawMessage(`{"token":"` + token + `"` + extra + `}`))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConformance(t *testing.T) {
	carriertest.Conformance(t, sandbox.Carrier{},
		json.RawMessage(`{"token":"`+token+`"}`),
		json.RawMessage(`{"token":"`+token+`","ring_seconds":"0.5","talk_seconds":"120","outcome":"no-answer"}`))
}

func TestNotRegisteredByImport(t *testing.T) {
	if _, ok := carriers.Lookup(sandbox.ID); ok {
		t.Error("importing the sandbox registered it; the server decides that")
	}
}

func TestParseCredentials(t *testing.T) {
	c := creds(t, `,"ring_seconds":"0.25","talk_seconds":"2","outcome":"busy"`).(sandbox.Credentials)
	if c.Ring() != 250*time.Millisecond || c.Talk() != 2*time.Second || c.Result() != "busy" {
		t.Errorf("got ring %v, talk %v, outcome %q", c.Ring(), c.Talk(), c.Result())
	}
	if h := c.Hint(); h != "sandbox: rings 250ms, then busy" {
		t.Errorf("Hint() = %q", h)
	}
	d := creds(t, "").(sandbox.Credentials)
	if d.Ring() != time.Second || d.Talk() != 5*time.Second || d.Result() != "completed" {
		t.Errorf("defaults: ring %v, talk %v, outcome %q", d.Ring(), d.Talk(), d.Result())
	}
	for _, doc := range []string{
		`{"token":"short"}`,
		`{"token":"` + token + `","outcome":"canceled"}`,
		`{"token":"` + token + `","ring_seconds":"-1"}`,
		`{"token":"` + token + `","talk_seconds":"1.2345"}`,
	} {
		var fe *carriers.FieldError
		if _, err := (sandbox.Carrier{}).ParseCredentials(json.RawMessage(doc)); !errors.As(err, &fe) {
			t.Errorf("%s: got %v, want a *carriers.FieldError", doc, err)
		}
	}
}

// receiver is a Switchboard stand-in: it checks each callback with ParseStatusCallback.
type receiver struct {
	*httptest.Server
	events chan carriers.StatusEvent
	errs   chan error
	fail   atomic.Int32 // answer this many deliveries with 503 first
}

func newReceiver(t *testing.T, c carriers.Credentials) *receiver {
	rc := &receiver{events: make(chan carriers.StatusEvent, 10), errs: make(chan error, 10)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rc.fail.Add(-1) >= 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		// Rebuilt from the public URL, as the server does behind a proxy.
		ev, err := sandbox.Carrier{}.ParseStatusCallback(r, rc.URL+r.URL.RequestURI(), c)
		if err != nil {
			rc.errs <- err
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		rc.events <- ev
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) next(t *testing.T) carriers.StatusEvent {
	t.Helper()
	select {
	case ev := <-rc.events:
		return ev
	case err := <-rc.errs:
		t.Fatalf("callback refused: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("no callback within 5s")
	}
	return carriers.StatusEvent{}
}

func originate(t *testing.T, c carriers.Credentials, callbackURL string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	res, err := sandbox.Carrier{}.Originate(ctx, c, carriers.OriginateRequest{
		From: "+14155550100", To: "+14155550123", AnswerURL: "https://switchboard.example/answer",
		StatusCallbackURL: callbackURL, SessionID: "call_1",
	})
	cancel() // the simulation must not depend on the request's context
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^SB[0-9a-f]{32}$`).MatchString(res.ProviderCallID) {
		t.Errorf("ProviderCallID %q", res.ProviderCallID)
	}
	return res.ProviderCallID
}

func TestLifecycle(t *testing.T) {
	c := creds(t, `,"ring_seconds":"0.05","talk_seconds":"0.1"`)
	rc := newReceiver(t, c)
	start := time.Now()
	id := originate(t, c, rc.URL+"/webhooks/sandbox/prov_1?k=v")
	want := []carriers.StatusEvent{
		{ProviderCallID: id, Status: carriers.StatusRinging},
		{ProviderCallID: id, Status: carriers.StatusInProgress},
		{ProviderCallID: id, Status: carriers.StatusCompleted, Duration: 100 * time.Millisecond},
	}
	for i, w := range want {
		if ev := rc.next(t); ev != w {
			t.Errorf("callback %d = %+v, want %+v", i, ev, w)
		}
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("the call ended after %v, before ringing and talking", d)
	}
}

func TestOutcomes(t *testing.T) {
	for outcome, status := range map[string]carriers.CallStatus{
		"busy": carriers.StatusBusy, "no-answer": carriers.StatusNoAnswer, "failed": carriers.StatusFailed,
	} {
		t.Run(outcome, func(t *testing.T) {
			c := creds(t, `,"ring_seconds":"0.01","outcome":"`+outcome+`"`)
			rc := newReceiver(t, c)
			id := originate(t, c, rc.URL+"/cb")
			if ev := rc.next(t); ev.Status != carriers.StatusRinging {
				t.Errorf("first callback %+v", ev)
			}
			if ev := rc.next(t); ev != (carriers.StatusEvent{ProviderCallID: id, Status: status}) {
				t.Errorf("second callback %+v, want %s", ev, status)
			}
			select {
			case ev := <-rc.events:
				t.Errorf("a callback after the end: %+v", ev)
			case <-time.After(100 * time.Millisecond):
			}
		})
	}
}

func TestFailedDeliveryIsRetried(t *testing.T) {
	c := creds(t, `,"ring_seconds":"0","outcome":"busy"`)
	rc := newReceiver(t, c)
	rc.fail.Store(2)
	originate(t, c, rc.URL+"/cb")
	if ev := rc.next(t); ev.Status != carriers.StatusRinging {
		t.Errorf("first delivered callback %+v, want the ringing one, retried", ev)
	}
	if ev := rc.next(t); ev.Status != carriers.StatusBusy {
		t.Errorf("second delivered callback %+v", ev)
	}
}

func TestOriginateRefusesBadRequests(t *testing.T) {
	c := creds(t, "")
	for _, cb := range []string{"ftp://example.com/cb", "/relative", "", "mailto:x@example.com"} {
		_, err := sandbox.Carrier{}.Originate(context.Background(), c, carriers.OriginateRequest{
			From: "+14155550100", To: "+14155550123", AnswerURL: "https://switchboard.example/answer", StatusCallbackURL: cb,
		})
		var ce *carriers.Error
		if !errors.As(err, &ce) || ce.Code != carriers.CodeInvalidRequest {
			t.Errorf("StatusCallbackURL %q: got %v, want an invalid_request *carriers.Error", cb, err)
		}
	}
}

func TestParseStatusCallbackSignature(t *testing.T) {
	c := creds(t, "")
	const cbURL = "https://switchboard.example/webhooks/sandbox/prov_1?k=v"
	body := "CallID=SB01&CallStatus=completed&Duration=5"
	req := func(sig, b string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/webhooks/sandbox/prov_1?k=v", strings.NewReader(b))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if sig != "" {
			r.Header.Set(sandbox.SignatureHeader, sig)
		}
		return r
	}
	good := sandbox.Sign(token, cbURL, body)
	ev, err := sandbox.Carrier{}.ParseStatusCallback(req(good, body), cbURL, c)
	if want := (carriers.StatusEvent{ProviderCallID: "SB01", Status: carriers.StatusCompleted, Duration: 5 * time.Second}); err != nil || ev != want {
		t.Fatalf("got %+v, %v", ev, err)
	}
	for name, r := range map[string]*http.Request{
		"tampered body": req(good, "CallID=SB01&CallStatus=completed&Duration=500"),
		"wrong token":   req(sandbox.Sign("another-token-0123456789", cbURL, body), body),
		"missing":       req("", body),
	} {
		if _, err := (sandbox.Carrier{}).ParseStatusCallback(r, cbURL, c); !errors.Is(err, carriers.ErrBadSignature) {
			t.Errorf("%s: got %v, want ErrBadSignature", name, err)
		}
	}
	if _, err := (sandbox.Carrier{}).ParseStatusCallback(req(good, body), cbURL+"&more=1", c); !errors.Is(err, carriers.ErrBadSignature) {
		t.Errorf("other URL: got %v", err)
	}
	if got := fmt.Sprintf("%v %+v %#v", c, c, c); strings.Contains(got, token) {
		t.Errorf("fmt shows the token: %s", got)
	}
}
