package twilio_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/carriers"
	"github.com/switchboard-dev/switchboard/carriers/carriertest"
	"github.com/switchboard-dev/switchboard/carriers/twilio"
)

const callSID = "CA0123456789abcdef0123456789abcdef"

var request = carriertest.SampleRequest()

func mustParse(t *testing.T, doc string) carriers.Credentials {
	t.Helper()
	return carriertest.MustParse(t, twilio.Carrier{}, doc)
}

func basicAuth(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

func TestOriginate(t *testing.T) {
	for _, tt := range []struct {
		name, doc, auth string
		ring            time.Duration
		timeout         []string
	}{
		{"auth token", tokenDoc, basicAuth(sid, token), request.RingTimeout, []string{"30"}},
		{"API key, carrier's ring timeout", apiKeyDoc, basicAuth(keySID, keySecret), 0, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := request
			r.RingTimeout = tt.ring
			got := carriertest.CheckOriginateRequest(t, twilio.Carrier{}, mustParse(t, tt.doc), r,
				`{"sid":"`+callSID+`","account_sid":"`+sid+`","status":"queued","to":"+14155550123"}`, callSID)
			if got.Method != http.MethodPost || got.Path != "/2010-04-01/Accounts/"+sid+"/Calls.json" || got.RawQuery != "" {
				t.Errorf("request %s %s?%s", got.Method, got.Path, got.RawQuery)
			}
			if a := got.Header.Get("Authorization"); a != tt.auth {
				t.Errorf("Authorization = %q, want %q", a, tt.auth)
			}
			if ct := got.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
				t.Errorf("Content-Type = %q", ct)
			}
			form, err := url.ParseQuery(string(got.Body))
			if err != nil {
				t.Fatal(err)
			}
			want := url.Values{
				"To":                   {"+14155550123"},
				"From":                 {"+14155550100"},
				"Url":                  {"https://switchboard.example/answer/call_01J"},
				"StatusCallback":       {"https://switchboard.example/webhooks/carrier/prov_01J?k=v&x=1"},
				"StatusCallbackMethod": {"POST"},
				"StatusCallbackEvent":  {"initiated", "ringing", "answered", "completed"},
			}
			if tt.timeout != nil {
				want["Timeout"] = tt.timeout
			}
			if !reflect.DeepEqual(form, want) {
				t.Errorf("form\n got %v\nwant %v", form, want)
			}
		})
	}
}

func TestOriginateErrors(t *testing.T) {
	c := twilio.Carrier{Timeout: 300 * time.Millisecond}
	carriertest.CheckOriginateReplies(t, c, mustParse(t, tokenDoc), request, `{"status":"queued"}`,
		carriertest.ReplyCase{Status: 400, Body: `{"code": 21211, "message": "The 'To' number +14155550123 is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}`,
			Code: "21211", Message: "The 'To' number +14155550123 is not a valid phone number."},
		carriertest.ReplyCase{Status: 401, Body: `{"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}`,
			Code: "20003", Message: "Authenticate"},
		carriertest.ReplyCase{Status: 429, Body: `{"code": 20429, "message": "Too Many Requests", "more_info": "https://www.twilio.com/docs/errors/20429", "status": 429}`,
			Code: "20429", Message: "Too Many Requests"},
		// A 5xx may come after Twilio created the call: outcome unknown, with what it said.
		carriertest.ReplyCase{Status: 500, Body: `{"code": 20500, "message": "An internal server error has occurred", "status": 500}`,
			Code: "20500", Message: "An internal server error has occurred"},
		carriertest.ReplyCase{Status: 503, Body: `<html>down</html>`, Code: "503", Message: "Service Unavailable"},
	)
}

func TestOriginateNeverShowsTheToken(t *testing.T) {
	srv := carriertest.NewServer()
	defer srv.Close()
	srv.Reply(http.StatusUnauthorized, `{"code": 20003, "message": "Authenticate with `+token+`", "status": 401}`)
	_, err := twilio.Carrier{BaseURL: srv.URL}.Originate(context.Background(), mustParse(t, tokenDoc), request)
	if err == nil || strings.Contains(err.Error(), token) || !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("error %v", err)
	}
}

func TestVerifyCredentials(t *testing.T) {
	carriertest.CheckVerify(t, twilio.Carrier{}, mustParse(t, tokenDoc), `{"sid":"`+sid+`","status":"active"}`,
		func(t *testing.T, r carriertest.Request) {
			if r.Method != http.MethodGet || r.Path != "/2010-04-01/Accounts/"+sid+".json" || r.Header.Get("Authorization") != basicAuth(sid, token) {
				t.Errorf("request %s %s, Authorization %q", r.Method, r.Path, r.Header.Get("Authorization"))
			}
		},
		carriertest.ReplyCase{Status: 401, Body: `{"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}`,
			Code: "20003", Message: "Authenticate"})
}

// sign is Twilio's documented signature, written out independently of the plugin.
func sign(authToken, signedURL string, params url.Values) string {
	names := make([]string, 0, len(params))
	for name := range params {
		names = append(names, name)
	}
	sort.Strings(names)
	s := signedURL
	for _, name := range names {
		s += name + params.Get(name)
	}
	m := hmac.New(sha1.New, []byte(authToken))
	m.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func callback(signature string, params url.Values) *http.Request {
	return carriertest.FormCallback("/webhooks/twilio/prov_01J?k=v&x=1", params, "X-Twilio-Signature", signature)
}

// Twilio's published example (docs "Webhooks security"; twilio-go client/request_validator_test.go):
// auth token 12345, this URL, these parameters.
const docsURL = "https://mycompany.com/myapp.php?foo=1&bar=2"

var docsParams = url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+14158675309"}, "Digits": {"1234"}, "From": {"+14158675309"}, "To": {"+18005551212"}}

// without returns params without name.
func without(params url.Values, name string) url.Values {
	out := url.Values{}
	for k, v := range params {
		if k != name {
			out[k] = v
		}
	}
	return out
}

func TestSignatureKnownVectors(t *testing.T) {
	creds := mustParse(t, `{"account_sid":"`+sid+`","auth_token":"12345"}`)
	withReason := without(docsParams, "")
	withReason.Set("Reason", "Participant")
	withReason.Set("ReasonConferenceEnded", "test")
	for _, tt := range []struct {
		name, signature string
		params          url.Values
	}{
		{"docs example", "RSOYDt4T1cUTdK1PDd93/VVr8B8=", docsParams},
		// "Reason" sorts before "ReasonConferenceEnded": by name, not by name+value.
		{"twilio-go example", "vOEb5UThFn24KEfnOFLQY2AE5FY=", withReason},
	} {
		if got := sign("12345", docsURL, tt.params); got != tt.signature {
			t.Errorf("%s: the test's own signer gives %s, published %s", tt.name, got, tt.signature)
		}
		// The signature is right, so parsing fails only for what the example lacks: a CallStatus.
		_, err := twilio.Carrier{}.ParseStatusCallback(callback(tt.signature, tt.params), docsURL, creds)
		if err == nil || errors.Is(err, carriers.ErrBadSignature) || !strings.Contains(err.Error(), "no call status") {
			t.Errorf("%s: got %v, want the signature accepted and the missing CallStatus reported", tt.name, err)
		}
		_, err = twilio.Carrier{}.ParseStatusCallback(callback(tt.signature, without(tt.params, "CallSid")), docsURL, creds)
		if !errors.Is(err, carriers.ErrBadSignature) {
			t.Errorf("%s without CallSid: got %v, want ErrBadSignature", tt.name, err)
		}
	}
}

func TestParseStatusCallback(t *testing.T) {
	creds := mustParse(t, tokenDoc)
	const cbURL = "https://switchboard.example/webhooks/twilio/prov_01J?k=v&x=1"
	params := url.Values{"AccountSid": {sid}, "CallDuration": {"42"}, "CallSid": {callSID}, "CallStatus": {"completed"}, "SipResponseCode": {"200"}, "To": {"+14155550123"}}
	good := sign(token, cbURL, params)
	want := carriers.StatusEvent{ProviderCallID: callSID, Status: carriers.StatusCompleted, Duration: 42 * time.Second, Reason: "SIP 200"}

	ev, err := twilio.Carrier{}.ParseStatusCallback(callback(good, params), cbURL, creds)
	if err != nil || ev != want {
		t.Fatalf("ParseStatusCallback = %+v, %v; want %+v", ev, err, want)
	}

	withPort := "https://switchboard.example:443/webhooks/twilio/prov_01J?k=v&x=1"
	for _, tt := range []struct{ name, signedURL, callbackURL string }{
		{"signed with :443, given without", withPort, cbURL},
		{"signed without, given with :443", cbURL, withPort},
		{"http with :80", "http://localhost:80/cb", "http://localhost/cb"},
		{"http without :80", "http://localhost/cb", "http://localhost:80/cb"},
		{"IPv6 with :443", "https://[::1]:443/cb", "https://[::1]/cb"},
	} {
		ev, err := twilio.Carrier{}.ParseStatusCallback(callback(sign(token, tt.signedURL, params), params), tt.callbackURL, creds)
		if err != nil || ev != want {
			t.Errorf("%s: %+v, %v", tt.name, ev, err)
		}
	}

	tampered := without(params, "")
	tampered.Set("CallDuration", "4200")
	apiKey := mustParse(t, apiKeyDoc)
	for _, tt := range []struct {
		name     string
		r        *http.Request
		url      string
		creds    carriers.Credentials
		wantText string
	}{
		{"tampered parameter", callback(good, tampered), cbURL, creds, "does not match"},
		{"wrong token", callback(sign("ffffffffffffffffffffffffffffffff", cbURL, params), params), cbURL, creds, "does not match"},
		{"missing header", callback("", params), cbURL, creds, "missing"},
		{"other URL", callback(good, params), "https://switchboard.example/webhooks/twilio/prov_02J?k=v&x=1", creds, "does not match"},
		{"non-default port", callback(sign(token, "https://switchboard.example:8443/webhooks/twilio/prov_01J?k=v&x=1", params), params), cbURL, creds, "does not match"},
		{"API key credentials", callback(good, params), cbURL, apiKey, "add the account's auth token"},
	} {
		_, err := twilio.Carrier{}.ParseStatusCallback(tt.r, tt.url, tt.creds)
		if !errors.Is(err, carriers.ErrBadSignature) || !strings.Contains(err.Error(), tt.wantText) {
			t.Errorf("%s: got %v, want ErrBadSignature saying %q", tt.name, err, tt.wantText)
		}
		if err != nil && (strings.Contains(err.Error(), token) || strings.Contains(err.Error(), keySecret)) {
			t.Errorf("%s: error shows a secret", tt.name)
		}
	}
}

func TestParseStatusCallbackMalformed(t *testing.T) {
	creds := mustParse(t, tokenDoc)
	const cbURL = "https://switchboard.example/cb"
	for name, params := range map[string]url.Values{
		"unknown status": {"CallSid": {callSID}, "CallStatus": {"exploded"}},
		"no CallSid":     {"CallStatus": {"ringing"}},
		"bad duration":   {"CallDuration": {"-3"}, "CallSid": {callSID}, "CallStatus": {"completed"}},
	} {
		_, err := twilio.Carrier{}.ParseStatusCallback(callback(sign(token, cbURL, params), params), cbURL, creds)
		if err == nil || errors.Is(err, carriers.ErrBadSignature) {
			t.Errorf("%s: got %v, want a malformed-callback error", name, err)
		}
	}
}

func TestStatusMapping(t *testing.T) {
	for word, want := range map[string]carriers.CallStatus{
		"queued": carriers.StatusQueued, "initiated": carriers.StatusQueued,
		"ringing":     carriers.StatusRinging,
		"in-progress": carriers.StatusInProgress, "answered": carriers.StatusInProgress,
		"completed": carriers.StatusCompleted, "busy": carriers.StatusBusy, "failed": carriers.StatusFailed,
		"no-answer": carriers.StatusNoAnswer, "canceled": carriers.StatusCanceled,
	} {
		if got, err := twilio.Status(word); got != want || err != nil {
			t.Errorf("Status(%q) = %q, %v; want %q", word, got, err, want)
		}
	}
	for _, word := range []string{"", "timeout", "cancel", "no_answer"} {
		if got, err := twilio.Status(word); err == nil {
			t.Errorf("Status(%q) = %q, want an error", word, got)
		}
	}
}
