package integration

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// The Twilio account the suite's fake carrier knows.
const (
	twilioSID   = "AC0123456789abcdef0123456789abcdef"
	twilioToken = "0123456789abcdef0123456789abcdef"
)

// fakeTwilio is Twilio's REST API as far as Switchboard uses it, on loopback. It checks that
// each create-call request is Twilio's exact wire format and answers with reply (by default
// 201 and a fresh CallSid).
type fakeTwilio struct {
	t      testing.TB
	srv    *httptest.Server
	calls  atomic.Int64 // create-call requests received
	mu     sync.Mutex
	reply  func(n int64) (int, string)
	verify func() (int, string)
}

func newFakeTwilio(t testing.TB) *fakeTwilio {
	f := &fakeTwilio{t: t}
	f.reply = func(n int64) (int, string) {
		return http.StatusCreated, fmt.Sprintf(`{"sid": "CA%032x", "status": "queued"}`, n)
	}
	f.verify = func() (int, string) { return http.StatusOK, `{"sid": "` + twilioSID + `", "status": "active"}` }
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// replyWith changes the answer to create-call requests.
func (f *fakeTwilio) replyWith(reply func(n int64) (int, string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reply = reply
}

func (f *fakeTwilio) serve(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || user != twilioSID || pass != twilioToken {
		f.t.Errorf("fake Twilio: Basic auth %q", r.Header.Get("Authorization"))
		http.Error(w, `{"code": 20003, "message": "Authenticate", "status": 401}`, http.StatusUnauthorized)
		return
	}
	f.mu.Lock()
	reply, verify := f.reply, f.verify
	f.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/2010-04-01/Accounts/"+twilioSID+".json":
		code, body := verify()
		w.WriteHeader(code)
		io.WriteString(w, body)
	case r.Method == http.MethodPost && r.URL.Path == "/2010-04-01/Accounts/"+twilioSID+"/Calls.json":
		n := f.calls.Add(1)
		if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			f.t.Errorf("fake Twilio: Content-Type %q", ct)
		}
		if err := r.ParseForm(); err != nil {
			f.t.Errorf("fake Twilio: %v", err)
		}
		form := r.PostForm
		if !strings.HasPrefix(form.Get("To"), "+") || !strings.HasPrefix(form.Get("From"), "+") ||
			!strings.HasPrefix(form.Get("Url"), "https://voice.example/answer/sess_") ||
			!strings.Contains(form.Get("StatusCallback"), "/webhooks/twilio/prov_") ||
			strings.Join(form["StatusCallbackEvent"], " ") != "initiated ringing answered completed" ||
			form.Get("StatusCallbackMethod") != "POST" {
			f.t.Errorf("fake Twilio: create-call form %v", form)
		}
		code, body := reply(n)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		io.WriteString(w, body)
	default:
		f.t.Errorf("fake Twilio: unexpected %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	}
}

// twilioSignature signs a status callback as Twilio does: base64(HMAC-SHA1(token, URL + each
// POST parameter's name and value, sorted by name)).
func twilioSignature(token, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		for _, v := range form[k] {
			b.WriteString(k + v)
		}
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// twilioCallback posts a status callback for a call to the server, signed with token, and returns
// the HTTP status.
func (s *server) twilioCallback(t *testing.T, providerID, callID, callSid, status string, extra url.Values, token string) int {
	t.Helper()
	target := fmt.Sprintf("%s/webhooks/twilio/%s?call=%s", s.URL, providerID, callID)
	form := url.Values{"CallSid": {callSid}, "AccountSid": {twilioSID}, "CallStatus": {status}}
	for k, v := range extra {
		form[k] = v
	}
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twilioSignature(token, target, form))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// twilioProvider stores the fake account's credentials as a provider.
func twilioProvider(t testing.TB, c clientT) string {
	t.Helper()
	creds, _ := json.Marshal(map[string]string{"account_sid": twilioSID, "auth_token": twilioToken})
	return createProviderWith(t, c, "twilio", creds)
}
