package vobiz_test

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
	"github.com/switchboard-dev/switchboard/carriers/vobiz"
)

const requestUUID = "f3a1c2d4-58b6-11e1-8f2b-aa4e42e6c58a"

var request = carriertest.SampleRequest()

func mustParse(t *testing.T) carriers.Credentials {
	t.Helper()
	return carriertest.MustParse(t, vobiz.Carrier{}, validDoc)
}

func TestOriginate(t *testing.T) {
	got := carriertest.CheckOriginateRequest(t, vobiz.Carrier{}, mustParse(t), request,
		`{"api_id":"a-1","message":"call fired","request_uuid":"`+requestUUID+`"}`, requestUUID)
	if got.Method != http.MethodPost || got.Path != "/api/v1/Account/"+authID+"/Call/" {
		t.Errorf("request %s %s", got.Method, got.Path)
	}
	if id, tok, a := got.Header.Get("X-Auth-ID"), got.Header.Get("X-Auth-Token"), got.Header.Get("Authorization"); id != authID || tok != token || a != "" {
		t.Errorf("X-Auth-ID %q, X-Auth-Token %q, Authorization %q", id, tok, a)
	}
	want := map[string]any{
		"from":          "+14155550100", // E.164 as given, as in Vobiz's examples
		"to":            "+14155550123",
		"answer_url":    "https://switchboard.example/answer/call_01J",
		"answer_method": "POST",
		"hangup_url":    "https://switchboard.example/webhooks/carrier/prov_01J?k=v&x=1",
		"ring_url":      "https://switchboard.example/webhooks/carrier/prov_01J?k=v&x=1",
		"ring_timeout":  float64(30),
	}
	if body := carriertest.JSONBody(t, got); !reflect.DeepEqual(body, want) {
		t.Errorf("body\n got %v\nwant %v", body, want)
	}
}

func TestOriginateErrors(t *testing.T) {
	carriertest.CheckOriginateReplies(t, vobiz.Carrier{Timeout: 300 * time.Millisecond}, mustParse(t), request,
		`{"message":"call fired"}`,
		carriertest.ReplyCase{Status: 400, Body: `{"status":"error","error":{"code":"INVALID_NUMBER","message":"to is not a valid number"}}`,
			Code: "INVALID_NUMBER", Message: "to is not a valid number"},
		carriertest.ReplyCase{Status: 401, Body: `{"status":"error","error":{"code":401,"message":"invalid auth credentials"}}`,
			Code: "401", Message: "invalid auth credentials"},
		carriertest.ReplyCase{Status: 429, Body: `{"status":"error","error":{"code":"RATE_LIMITED","message":"CPS limit exceeded"}}`,
			Code: "RATE_LIMITED", Message: "CPS limit exceeded"},
		carriertest.ReplyCase{Status: 400, Body: `{"api_id":"a-3","error":"from number not owned"}`, Code: "400", Message: "from number not owned"},
		// A 5xx may come after Vobiz created the call: outcome unknown, with what it said.
		carriertest.ReplyCase{Status: 500, Body: `{"api_id":"a-2","error":"internal error"}`, Code: "500", Message: "internal error"},
		carriertest.ReplyCase{Status: 503, Body: `{"status":"error","error":{"code":"SERVICE_UNAVAILABLE","message":"try again later"}}`,
			Code: "SERVICE_UNAVAILABLE", Message: "try again later"},
	)
}

func TestVerifyCredentials(t *testing.T) {
	carriertest.CheckVerify(t, vobiz.Carrier{}, mustParse(t), `{"auth_id":"`+authID+`","name":"Acme"}`,
		func(t *testing.T, r carriertest.Request) {
			if r.Method != http.MethodGet || r.Path != "/api/v1/auth/me" || r.Header.Get("X-Auth-ID") != authID || r.Header.Get("X-Auth-Token") != token {
				t.Errorf("request %s %s, X-Auth-ID %q", r.Method, r.Path, r.Header.Get("X-Auth-ID"))
			}
		},
		carriertest.ReplyCase{Status: 401, Body: `{"status":"error","error":{"code":"UNAUTHORIZED","message":"invalid auth token"}}`,
			Code: "UNAUTHORIZED", Message: "invalid auth token"})
}

// sign is Vobiz's V3 signature, written out independently of the plugin.
func sign(authToken, text string) string {
	m := hmac.New(sha256.New, []byte(authToken))
	m.Write([]byte(text))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func callback(signature, nonce string, form url.Values) *http.Request {
	return carriertest.FormCallback("/webhooks/vobiz/prov_01J?k=v", form, "X-Vobiz-Signature-V3", signature, "X-Vobiz-Signature-V3-Nonce", nonce)
}

func TestParseStatusCallback(t *testing.T) {
	creds := mustParse(t)
	const cbURL = "https://switchboard.example:8443/webhooks/vobiz/prov_01J?k=v"
	// Only scheme://host[:port]/path is signed: not the query, not the body.
	good := sign(token, "https://switchboard.example:8443/webhooks/vobiz/prov_01J.46347661609492873878")
	hangup := url.Values{
		"CallStatus": {"cancel"}, "CallUUID": {"c-9"}, "RequestUUID": {requestUUID},
		"Duration": {"0"}, "HangupCause": {"ORIGINATOR_CANCEL"}, "Event": {"Hangup"},
	}
	want := carriers.StatusEvent{ProviderCallID: requestUUID, Status: carriers.StatusCanceled, Reason: "ORIGINATOR_CANCEL"}
	ev, err := vobiz.Carrier{}.ParseStatusCallback(callback(good, "46347661609492873878", hangup), cbURL, creds)
	if err != nil || ev != want {
		t.Fatalf("ParseStatusCallback = %+v, %v; want %+v", ev, err, want)
	}

	answered := url.Values{"CallStatus": {"completed"}, "CallUUID": {"c-9"}, "Duration": {"17"}, "HangupCause": {"NORMAL_CLEARING"}}
	ev, err = vobiz.Carrier{}.ParseStatusCallback(callback(good, "46347661609492873878", answered), cbURL, creds)
	if want := (carriers.StatusEvent{ProviderCallID: "c-9", Status: carriers.StatusCompleted, Duration: 17 * time.Second, Reason: "NORMAL_CLEARING"}); err != nil || ev != want {
		t.Errorf("completed without RequestUUID = %+v, %v; want %+v", ev, err, want)
	}

	for _, tt := range []struct {
		name            string
		signature, nonc string
		url             string
	}{
		{"other path", good, "46347661609492873878", "https://switchboard.example:8443/webhooks/vobiz/prov_02J?k=v"},
		{"other nonce", good, "1", cbURL},
		{"wrong token", sign("another-token", "https://switchboard.example:8443/webhooks/vobiz/prov_01J.46347661609492873878"), "46347661609492873878", cbURL},
		{"missing signature", "", "46347661609492873878", cbURL},
		{"missing nonce", good, "", cbURL},
	} {
		_, err := vobiz.Carrier{}.ParseStatusCallback(callback(tt.signature, tt.nonc, hangup), tt.url, creds)
		if !errors.Is(err, carriers.ErrBadSignature) {
			t.Errorf("%s: got %v, want ErrBadSignature", tt.name, err)
		} else if strings.Contains(err.Error(), token) {
			t.Errorf("%s: error shows the token", tt.name)
		}
	}

	_, err = vobiz.Carrier{}.ParseStatusCallback(callback(good, "46347661609492873878", url.Values{"CallUUID": {"c-9"}, "CallStatus": {"lost"}}), cbURL, creds)
	if err == nil || errors.Is(err, carriers.ErrBadSignature) {
		t.Errorf("unknown status: got %v, want a malformed-callback error", err)
	}
}
