package plivo_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/carriers"
	"github.com/switchboard-dev/switchboard/carriers/carriertest"
	"github.com/switchboard-dev/switchboard/carriers/plivo"
)

const requestUUID = "9834029e-58b6-11e1-8f2b-aa4e42e6c58a"

var request = carriertest.SampleRequest()

func mustParse(t *testing.T) carriers.Credentials {
	t.Helper()
	return carriertest.MustParse(t, plivo.Carrier{}, validDoc)
}

func TestOriginate(t *testing.T) {
	reply := `{"api_id":"97ceeb52-58b6-11e1-86da-77300b68f8bb","message":"call fired","request_uuid":"` + requestUUID + `"}`
	got := carriertest.CheckOriginateRequest(t, plivo.Carrier{}, mustParse(t), request, reply, requestUUID)
	if got.Method != http.MethodPost || got.Path != "/v1/Account/"+authID+"/Call/" {
		t.Errorf("request %s %s", got.Method, got.Path)
	}
	if a, want := got.Header.Get("Authorization"), "Basic "+base64.StdEncoding.EncodeToString([]byte(authID+":"+token)); a != want {
		t.Errorf("Authorization = %q, want %q", a, want)
	}
	want := map[string]any{
		"from":          "14155550100", // digits only, Plivo's documented form
		"to":            "14155550123",
		"answer_url":    "https://switchboard.example/answer/call_01J",
		"answer_method": "POST",
		"hangup_url":    "https://switchboard.example/webhooks/carrier/prov_01J?k=v&x=1",
		"ring_url":      "https://switchboard.example/webhooks/carrier/prov_01J?k=v&x=1",
		"ring_timeout":  float64(30),
	}
	if body := carriertest.JSONBody(t, got); !reflect.DeepEqual(body, want) {
		t.Errorf("body\n got %v\nwant %v", body, want)
	}

	// Without a ring timeout the key is left out, so Plivo's default applies.
	r := request
	r.RingTimeout = 0
	got = carriertest.CheckOriginateRequest(t, plivo.Carrier{}, mustParse(t), r, reply, requestUUID)
	if body := carriertest.JSONBody(t, got); body["ring_timeout"] != nil || len(body) != len(want)-1 {
		t.Errorf("body without a ring timeout: %v", body)
	}
}

func TestOriginateErrors(t *testing.T) {
	const apiID = `"api_id": "3b2f9c4e-58b6-11e1-86da-77300b68f8bb", `
	carriertest.CheckOriginateReplies(t, plivo.Carrier{Timeout: 300 * time.Millisecond}, mustParse(t), request,
		`{"api_id":"x","message":"call fired"}`,
		carriertest.ReplyCase{Status: 400, Body: `{` + apiID + `"error": "invalid to number"}`, Code: "400", Message: "invalid to number"},
		carriertest.ReplyCase{Status: 401, Body: `{` + apiID + `"error": "authentication failed"}`, Code: "401", Message: "authentication failed"},
		carriertest.ReplyCase{Status: 403, Body: `{` + apiID + `"error": "geo permission not enabled for the destination"}`, Code: "403", Message: "geo permission not enabled for the destination"},
		carriertest.ReplyCase{Status: 429, Body: `{` + apiID + `"error": "too many requests"}`, Code: "429", Message: "too many requests"},
		carriertest.ReplyCase{Status: 400, Body: `{` + apiID + `"error": {"to": ["not a valid number"]}}`, Code: "400", Message: `{"to":["not a valid number"]}`},
		// A 5xx may come after Plivo created the call: outcome unknown, with what it said.
		carriertest.ReplyCase{Status: 500, Body: `{` + apiID + `"error": "internal server error"}`, Code: "500", Message: "internal server error"},
		carriertest.ReplyCase{Status: 503, Body: `{` + apiID + `"error": "service unavailable, try later"}`, Code: "503", Message: "service unavailable, try later"},
	)
}

func TestVerifyCredentials(t *testing.T) {
	carriertest.CheckVerify(t, plivo.Carrier{}, mustParse(t), `{"account_type":"standard","auth_id":"`+authID+`"}`,
		func(t *testing.T, r carriertest.Request) {
			user, password, ok := (&http.Request{Header: r.Header}).BasicAuth()
			if r.Method != http.MethodGet || r.Path != "/v1/Account/"+authID+"/" || !ok || user != authID || password != token {
				t.Errorf("request %s %s, basic auth %v", r.Method, r.Path, ok)
			}
		},
		carriertest.ReplyCase{Status: 401, Body: `{"api_id":"x","error":"authentication failed"}`, Code: "401", Message: "authentication failed"})
}

// V3 reference signatures (token my_auth_token, nonce 12345) from openHAB's Plivo binding tests,
// made with plivo-python's construct_post_url and get_signature_v3.
func TestSignedTextV3KnownVectors(t *testing.T) {
	form := url.Values{"From": {"+14156667777"}, "To": {"+14158889999"}, "CallUUID": {"abcd-1234"}}
	for _, tt := range []struct{ url, text, signature string }{
		{"https://example.com/answer", "https://example.com/answer?CallUUIDabcd-1234From+14156667777To+14158889999",
			"QUFNUHBhaE5m20p3UFtVHCb66PSliiukfx8M6MyiJwk="},
		{"https://example.com/answer?token=xyz", "https://example.com/answer?token=xyz.CallUUIDabcd-1234From+14156667777To+14158889999",
			"IryQ8ucGk4J35wJRxh5K0iVvDCSZpHflFICcZxwx7Cc="},
	} {
		texts := plivo.SignedTextV3(tt.url, form)
		if len(texts) != 1 || texts[0] != tt.text {
			t.Errorf("SignedTextV3(%s) = %q, want [%q]", tt.url, texts, tt.text)
		}
		if !carriers.MatchHMAC(sha256.New, "my_auth_token", "bogus=,"+tt.signature, tt.text+".12345") {
			t.Errorf("%s: the reference signature does not match", tt.url)
		}
	}
	if got := plivo.SignedTextV3("https://example.com/answer?b=2&a=1", nil); len(got) != 1 || got[0] != "https://example.com/answer?a=1&b=2" {
		t.Errorf("query only: %q", got)
	}
	if got := plivo.SignedTextV3("https://example.com/answer", nil); len(got) != 1 || got[0] != "https://example.com/answer" {
		t.Errorf("neither query nor body: %q", got)
	}
	// plivo-go keeps query values raw, plivo-python decodes them: both are accepted.
	got := plivo.SignedTextV3("https://example.com/a?t=x%2Fy", url.Values{"K": {"v"}})
	if want := []string{"https://example.com/a?t=x%2Fy.Kv", "https://example.com/a?t=x/y.Kv"}; !reflect.DeepEqual(got, want) {
		t.Errorf("encoded query: %q, want %q", got, want)
	}
}

func signV3(authToken, text string) string {
	m := hmac.New(sha256.New, []byte(authToken))
	m.Write([]byte(text))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func callback(signature, nonce string, form url.Values) *http.Request {
	return carriertest.FormCallback("/webhooks/plivo/prov_01J?k=v&x=1", form, "X-Plivo-Signature-V3", signature, "X-Plivo-Signature-V3-Nonce", nonce)
}

func TestParseStatusCallback(t *testing.T) {
	creds := mustParse(t)
	const cbURL = "https://switchboard.example/webhooks/plivo/prov_01J?k=v&x=1"
	hangup := url.Values{
		"BillDuration": {"60"}, "CallStatus": {"completed"}, "CallUUID": {"c-1"}, "Duration": {"42"},
		"HangupCause": {"NORMAL_CLEARING"}, "RequestUUID": {requestUUID},
	}
	// Written out by hand: URL, "?", the sorted query, ".", the sorted body as name+value, ".", nonce.
	text := cbURL + ".BillDuration60CallStatuscompletedCallUUIDc-1Duration42HangupCauseNORMAL_CLEARINGRequestUUID" + requestUUID + ".n0nce"
	good := signV3(token, text)
	want := carriers.StatusEvent{ProviderCallID: requestUUID, Status: carriers.StatusCompleted, Duration: 42 * time.Second, Reason: "NORMAL_CLEARING"}
	ev, err := plivo.Carrier{}.ParseStatusCallback(callback("other-token-sig=,"+good, "n0nce", hangup), cbURL, creds)
	if err != nil || ev != want {
		t.Fatalf("ParseStatusCallback = %+v, %v; want %+v", ev, err, want)
	}

	ring := url.Values{"CallStatus": {"ringing"}, "CallUUID": {"c-1"}}
	ev, err = plivo.Carrier{}.ParseStatusCallback(callback(signV3(token, cbURL+".CallStatusringingCallUUIDc-1.n2"), "n2", ring), cbURL, creds)
	if want := (carriers.StatusEvent{ProviderCallID: "c-1", Status: carriers.StatusRinging}); err != nil || ev != want {
		t.Errorf("ring callback without RequestUUID = %+v, %v; want %+v", ev, err, want)
	}

	tampered := url.Values{}
	for k, v := range hangup {
		tampered[k] = v
	}
	tampered.Set("Duration", "4")
	for _, tt := range []struct {
		name string
		r    *http.Request
		url  string
	}{
		{"tampered parameter", callback(good, "n0nce", tampered), cbURL},
		{"other nonce", callback(good, "n1nce", hangup), cbURL},
		{"wrong token", callback(signV3("another-token", text), "n0nce", hangup), cbURL},
		{"other query", callback(good, "n0nce", hangup), "https://switchboard.example/webhooks/plivo/prov_01J?k=w&x=1"},
		{"missing signature", callback("", "n0nce", hangup), cbURL},
		{"missing nonce", callback(good, "", hangup), cbURL},
	} {
		_, err := plivo.Carrier{}.ParseStatusCallback(tt.r, tt.url, creds)
		if !errors.Is(err, carriers.ErrBadSignature) {
			t.Errorf("%s: got %v, want ErrBadSignature", tt.name, err)
		} else if strings.Contains(err.Error(), token) {
			t.Errorf("%s: error shows the token", tt.name)
		}
	}

	for name, form := range map[string]url.Values{
		"unknown status": {"CallStatus": {"exploded"}, "CallUUID": {"c-1"}},
		"no call id":     {"CallStatus": {"busy"}},
		"bad duration":   {"CallStatus": {"completed"}, "CallUUID": {"c-1"}, "Duration": {"x"}},
	} {
		text := cbURL + "." + carriers.ConcatSorted(form) + ".n"
		_, err := plivo.Carrier{}.ParseStatusCallback(callback(signV3(token, text), "n", form), cbURL, creds)
		if err == nil || errors.Is(err, carriers.ErrBadSignature) {
			t.Errorf("%s: got %v, want a malformed-callback error", name, err)
		}
	}
}
