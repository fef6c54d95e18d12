package carriers

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestCallStatus(t *testing.T) {
	for _, tt := range []struct {
		s        CallStatus
		terminal bool
		rank     int
	}{
		{StatusQueued, false, 1}, {StatusRinging, false, 2}, {StatusInProgress, false, 3},
		{StatusCompleted, true, 4}, {StatusBusy, true, 4}, {StatusNoAnswer, true, 4},
		{StatusFailed, true, 4}, {StatusCanceled, true, 4}, {"", false, 0}, {"ringing", false, 0},
	} {
		if tt.s.Terminal() != tt.terminal || tt.s.Rank() != tt.rank {
			t.Errorf("%q: Terminal %v, Rank %d; want %v, %d", tt.s, tt.s.Terminal(), tt.s.Rank(), tt.terminal, tt.rank)
		}
	}
}

var okRequest = OriginateRequest{From: "+14155550100", To: "+442079460000", AnswerURL: "https://a.example/answer",
	StatusCallbackURL: "http://localhost:8080/webhooks/x/prov_1?k=v"}

func TestOriginateRequestValidate(t *testing.T) {
	if err := okRequest.Validate("x"); err != nil {
		t.Fatalf("a good request: %v", err)
	}
	for name, mod := range map[string]func(*OriginateRequest){
		"From missing +":       func(r *OriginateRequest) { r.From = "14155550100" },
		"From too short":       func(r *OriginateRequest) { r.From = "+123456" },
		"To too long":          func(r *OriginateRequest) { r.To = "+1234567890123456" },
		"To leading 0":         func(r *OriginateRequest) { r.To = "+0123456789" },
		"To with spaces":       func(r *OriginateRequest) { r.To = "+1 415 555 0123" },
		"To bulk":              func(r *OriginateRequest) { r.To = "+14155550123<+14155550124" },
		"AnswerURL relative":   func(r *OriginateRequest) { r.AnswerURL = "/answer" },
		"AnswerURL no host":    func(r *OriginateRequest) { r.AnswerURL = "https:///answer" },
		"callback ftp":         func(r *OriginateRequest) { r.StatusCallbackURL = "ftp://a.example/cb" },
		"callback with a user": func(r *OriginateRequest) { r.StatusCallbackURL = "https://user:pw@a.example/cb" },
		"negative ring":        func(r *OriginateRequest) { r.RingTimeout = -1 },
	} {
		r := okRequest
		mod(&r)
		err := r.Validate("acme")
		var ce *Error
		if !errors.As(err, &ce) || ce.Carrier != "acme" || ce.Code != CodeInvalidRequest || ce.HTTPStatus != 0 {
			t.Errorf("%s: got %#v", name, err)
		}
	}
}

func TestRingTimeoutSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int{0: 0, -time.Second: 0, time.Millisecond: 1, time.Second: 1, 1500 * time.Millisecond: 2, time.Minute: 60} {
		if got := (OriginateRequest{RingTimeout: d}).RingTimeoutSeconds(); got != want {
			t.Errorf("%v: %d, want %d", d, got, want)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	for _, tt := range []struct {
		e    *Error
		want string
	}{
		{&Error{Carrier: "twilio", HTTPStatus: 400, Code: "21211", Message: "bad To"}, "twilio refused the request (HTTP 400, code 21211): bad To"},
		{&Error{Carrier: "plivo", HTTPStatus: 401, Code: "401", Message: "authentication failed"}, "plivo refused the request (HTTP 401): authentication failed"},
		{&Error{Carrier: "vobiz", Code: CodeInvalidRequest, Message: "To must be E.164"}, "vobiz request not sent: To must be E.164"},
		{nil, "<nil>"},
	} {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestCredentialsAs(t *testing.T) {
	if c, err := CredentialsAs[fakeCreds]("x", fakeCreds{"id": "1"}); err != nil || c["id"] != "1" {
		t.Errorf("got %v, %v", c, err)
	}
	var ce *Error
	if _, err := CredentialsAs[fakeCreds]("x", otherCreds{}); !errors.As(err, &ce) || !strings.Contains(ce.Message, "not x credentials") {
		t.Errorf("other credentials: %v", err)
	}
}

type otherCreds struct{}

func (otherCreds) Hint() string { return "other" }

func TestParseErrorBody(t *testing.T) {
	for _, tt := range []struct{ body, code, msg string }{
		{`{"code": 21211, "message": "Invalid 'To'", "more_info": "https://x", "status": 400}`, "21211", "Invalid 'To'"},
		{`{"api_id": "a", "error": "not found"}`, "", "not found"},
		{`{"api_id": "a", "error": {"to": ["bad"]}}`, "", `{"to":["bad"]}`},
		{`{"status": "error", "error": {"code": "E1", "message": "nope"}}`, "E1", "nope"},
		{`{"status": "error", "error": {"code": 42}}`, "42", ""},
		{`<html>502</html>`, "", ""},
		{``, "", ""},
		{`{"message": "` + strings.Repeat("x", 600) + `"}`, "", strings.Repeat("x", 500) + "…"},
	} {
		code, msg := ParseErrorBody([]byte(tt.body))
		if code != tt.code || msg != tt.msg {
			t.Errorf("%.40s: got %q %q, want %q %q", tt.body, code, msg, tt.code, tt.msg)
		}
	}
}

// server answers with status and body and counts requests.
func server(t *testing.T, status int, body string, n *atomic.Int32) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		io.Copy(io.Discard, r.Body)
		if status == 0 {
			<-r.Context().Done() // never answers
			return
		}
		if status == http.StatusFound {
			w.Header().Set("Location", "/elsewhere")
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestAPIClientOriginate(t *testing.T) {
	const secret = "s3cr3t-token"
	const unknown = "x: outcome unknown: the carrier may have placed the call (POST {host}: "
	long := strings.Repeat("x", 600)
	for _, tt := range []struct {
		name    string
		status  int
		body    string
		id      string
		refused int    // HTTPStatus of the *Error, 0 = not refused
		unknown bool   // wraps ErrOutcomeUnknown
		text    string // the error's whole text, {host} standing for the server's; "" = not checked
	}{
		{"201", 201, `{"sid":"CA1","status":"queued"}`, "CA1", 0, false, ""},
		{"200 list of one", 200, `{"sid":["CA2"]}`, "CA2", 0, false, ""},
		{"201 without id", 201, `{"status":"queued"}`, "", 0, true, unknown + `the HTTP 201 reply has no "sid")`},
		{"201 not JSON", 201, `ok`, "", 0, true, unknown + `the HTTP 201 reply has no "sid")`},
		{"302", http.StatusFound, ``, "", 0, true, unknown + "unexpected HTTP 302 reply)"},
		{"400", 400, `{"code":1,"message":"bad ` + secret + `"}`, "", 400, false, "x refused the request (HTTP 400, code 1): bad [redacted]"},
		{"429", 429, `{}`, "", 429, false, "x refused the request (HTTP 429): Too Many Requests"},
		// Every 5xx may come after the carrier created the call: unknown, with what it said.
		{"500", 500, `{"code":20500,"message":"An internal server error has occurred ` + secret + `"}`, "", 0, true,
			unknown + "HTTP 500, code 20500: An internal server error has occurred [redacted])"},
		{"500 empty", 500, `{}`, "", 0, true, unknown + "HTTP 500: Internal Server Error)"},
		{"501", 501, `{"error":"not implemented"}`, "", 0, true, unknown + "HTTP 501: not implemented)"},
		{"502", 502, `<html>bad gateway</html>`, "", 0, true, unknown + "HTTP 502: Bad Gateway)"},
		{"503 HTML", 503, `<html>down</html>`, "", 0, true, unknown + "HTTP 503: Service Unavailable)"},
		{"503 error object", 503, `{"status":"error","error":{"code":"E503","message":"try later"}}`, "", 0, true, unknown + "HTTP 503, code E503: try later)"},
		{"503 long message", 503, `{"message":"` + long + `"}`, "", 0, true, unknown + "HTTP 503: " + long[:500] + "…)"},
		{"504", 504, `{}`, "", 0, true, unknown + "HTTP 504: Gateway Timeout)"},
		{"599", 599, `{}`, "", 0, true, unknown + "HTTP 599)"},
		{"no answer", 0, ``, "", 0, true, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int32
			base := server(t, tt.status, tt.body, &n)
			api := APIClient{Carrier: "x", Timeout: 200 * time.Millisecond, Secrets: []string{secret, ""}}
			req, _ := NewFormRequest(base+"/calls", url.Values{"a": {"1"}})
			res, err := api.Originate(context.Background(), req, "sid")
			if n.Load() != 1 {
				t.Errorf("%d requests", n.Load())
			}
			if res.ProviderCallID != tt.id {
				t.Errorf("id %q, want %q", res.ProviderCallID, tt.id)
			}
			var ce *Error
			if refused := errors.As(err, &ce); refused != (tt.refused != 0) || (refused && ce.HTTPStatus != tt.refused) {
				t.Errorf("error %v, want refused with %d", err, tt.refused)
			}
			if errors.Is(err, ErrOutcomeUnknown) != tt.unknown {
				t.Errorf("error %v, want unknown %v", err, tt.unknown)
			}
			if want := strings.ReplaceAll(tt.text, "{host}", req.URL.Host); tt.text != "" && (err == nil || err.Error() != want) {
				t.Errorf("error %q, want %q", err, want)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("error %q shows the secret", err)
			}
		})
	}
}

func TestAPIClientOriginateTimeoutKeepsCause(t *testing.T) {
	var n atomic.Int32
	base := server(t, 0, "", &n)
	req, _ := NewJSONRequest(http.MethodPost, base+"/calls", map[string]string{"to": "+1"})
	_, err := APIClient{Carrier: "x", Timeout: 50 * time.Millisecond}.Originate(context.Background(), req, "id")
	if !errors.Is(err, ErrOutcomeUnknown) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want ErrOutcomeUnknown and context.DeadlineExceeded", err)
	}
}

func TestAPIClientVerify(t *testing.T) {
	for _, tt := range []struct {
		status  int
		ok      bool
		refused bool
	}{
		{200, true, false}, {204, true, false}, {401, false, true}, {403, false, true}, {404, false, true},
		{429, false, false}, {408, false, false}, {500, false, false}, {503, false, false}, {0, false, false},
	} {
		var n atomic.Int32
		base := server(t, tt.status, `{}`, &n)
		req, _ := http.NewRequest(http.MethodGet, base+"/me", nil)
		err := APIClient{Carrier: "x", Timeout: 100 * time.Millisecond}.Verify(context.Background(), req)
		var ce *Error
		if (err == nil) != tt.ok || errors.As(err, &ce) != tt.refused {
			t.Errorf("HTTP %d: got %v, want ok %v, refused %v", tt.status, err, tt.ok, tt.refused)
		}
	}
}
