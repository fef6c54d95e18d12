package carriers

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Default bounds on one request to a carrier's API.
const (
	DefaultCallTimeout   = 10 * time.Second // placing a call
	DefaultVerifyTimeout = 5 * time.Second  // checking credentials
)

// maxReplySize bounds how much of a carrier's reply is read; real ones are a few KiB.
const maxReplySize = 1 << 20

// apiHTTP is the client behind every [APIClient]: the whole exchange is bounded by the request's
// context; connecting and the TLS handshake have their own short limits; redirects are not
// followed (a redirected POST would be re-sent as a GET, or not at all). net/http retries a
// request by itself only when it is idempotent (GET, or with an Idempotency-Key header), so a
// create-call POST goes out once.
var apiHTTP = &http.Client{
	Transport: func() http.RoundTripper {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		t.TLSHandshakeTimeout = 5 * time.Second
		t.MaxIdleConnsPerHost = 16
		return t
	}(),
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// APIClient sends requests to one carrier's REST API and sorts the replies into the contract's
// errors. It is a value a plugin builds for each call; the zero Timeout means the defaults.
type APIClient struct {
	Carrier string        // plugin id, for Error.Carrier and messages
	Timeout time.Duration // bound on the whole exchange; 0 = DefaultCallTimeout or DefaultVerifyTimeout
	Secrets []string      // values scrubbed from anything the carrier says before it is put in an error
}

// NewJSONRequest builds a request whose body is body as JSON.
func NewJSONRequest(method, url string, body any) (*http.Request, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	return req, nil
}

// NewFormRequest builds a POST whose body is form, URL-encoded.
func NewFormRequest(url string, form url.Values) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	return req, nil
}

// NotSent is the *Error for a request that could not even be built (a malformed base URL).
func (a APIClient) NotSent(err error) error {
	return &Error{Carrier: a.Carrier, Code: CodeInvalidRequest, Message: "the request could not be built: " + a.scrub(err.Error())}
}

// Originate sends a create-call request once and returns the string at idKey in the JSON body
// of a 2xx reply. A 4xx reply is an *Error with the carrier's code and message: the carrier
// refused, so no call exists. A 5xx reply (any status from 500 up) wraps ErrOutcomeUnknown, as
// do a transport failure, an unreadable reply and a 2xx without the id: the carrier, or a
// gateway in front of it, may have created the call before failing. Its text keeps what the
// carrier said, e.g. "HTTP 503, code 20503: Service unavailable".
func (a APIClient) Originate(ctx context.Context, req *http.Request, idKey string) (OriginateResult, error) {
	status, body, err := a.send(ctx, req, DefaultCallTimeout)
	switch {
	case err != nil && status == 0:
		return OriginateResult{}, a.unknown(req, err)
	case status >= 500:
		return OriginateResult{}, a.unknown(req, a.serverError(status, body))
	case status >= 400:
		return OriginateResult{}, a.refusal(status, body)
	case err != nil:
		return OriginateResult{}, a.unknown(req, fmt.Errorf("reading the HTTP %d reply: %w", status, err))
	case status < 200 || status > 299:
		return OriginateResult{}, a.unknown(req, fmt.Errorf("unexpected HTTP %d reply", status))
	}
	id := callID(body, idKey)
	if id == "" {
		return OriginateResult{}, a.unknown(req, fmt.Errorf("the HTTP %d reply has no %q", status, idKey))
	}
	return OriginateResult{ProviderCallID: id}, nil
}

// Verify sends a read-only request (a credentials check). It returns nil for a 2xx reply, an
// *Error when the carrier refused (4xx other than 408 and 429), and another error when it could
// not tell (transport failure, rate limit, 5xx).
func (a APIClient) Verify(ctx context.Context, req *http.Request) error {
	status, body, err := a.send(ctx, req, DefaultVerifyTimeout)
	switch {
	case status == 0:
		return fmt.Errorf("%s: could not check the credentials: %w", a.Carrier, err)
	case status >= 200 && status <= 299:
		return nil
	case status >= 400 && status <= 499 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests:
		return a.refusal(status, body)
	}
	return fmt.Errorf("%s: could not check the credentials: %s", a.Carrier, a.refusal(status, body).Error())
}

// send does the exchange within the timeout. status is 0 when no reply arrived; err may be set
// with a status when the body could not be read.
func (a APIClient) send(ctx context.Context, req *http.Request, def time.Duration) (status int, body []byte, err error) {
	timeout := a.Timeout
	if timeout <= 0 {
		timeout = def
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := apiHTTP.Do(req.WithContext(ctx))
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the URL, which holds account ids
		}
		return 0, nil, err
	}
	defer res.Body.Close()
	body, err = io.ReadAll(io.LimitReader(res.Body, maxReplySize))
	return res.StatusCode, body, err
}

// unknown wraps ErrOutcomeUnknown and the cause.
func (a APIClient) unknown(req *http.Request, cause error) error {
	return fmt.Errorf("%s: %w (%s %s: %w)", a.Carrier, ErrOutcomeUnknown, req.Method, req.URL.Host, scrubbed{cause, a.scrub(cause.Error())})
}

// refusal builds the *Error for an error reply.
func (a APIClient) refusal(status int, body []byte) *Error {
	code, msg := ParseErrorBody(body)
	if code == "" {
		code = strconv.Itoa(status)
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &Error{Carrier: a.Carrier, HTTPStatus: status, Code: a.scrub(code), Message: a.scrub(msg)}
}

// serverError describes a 5xx reply with what the carrier said, parsed and scrubbed as for a
// refusal: "HTTP 503" and, when the body has them, its code and message. It is plain text, not
// an *Error, so the reply is never taken for a refusal.
func (a APIClient) serverError(status int, body []byte) error {
	r := a.refusal(status, body)
	text := "HTTP " + strconv.Itoa(status)
	if r.Code != strconv.Itoa(status) {
		text += ", code " + r.Code
	}
	if r.Message != "" {
		text += ": " + r.Message
	}
	return errors.New(text)
}

// scrub replaces every secret (of 4 bytes or more) in s.
func (a APIClient) scrub(s string) string {
	for _, secret := range a.Secrets {
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}

// scrubbed is an error whose text was cleaned but which still unwraps to the original, so
// errors.Is(err, context.DeadlineExceeded) keeps working.
type scrubbed struct {
	err  error
	text string
}

func (s scrubbed) Error() string { return s.text }
func (s scrubbed) Unwrap() error { return s.err }

// maxMessage bounds a carrier message kept in an *Error.
const maxMessage = 500

// ParseErrorBody reads a carrier's JSON error document: a top-level "code" and "message"
// (Twilio), an "error" string (Plivo) or an "error" object with "code" and "message" (Vobiz).
// It returns "" for what it cannot find; codes may be numbers or strings.
func ParseErrorBody(body []byte) (code, message string) {
	var doc struct {
		Code    json.RawMessage `json:"code"`
		Message json.RawMessage `json:"message"`
		Error   json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return "", ""
	}
	code, message = jsonText(doc.Code), jsonText(doc.Message)
	var inner struct {
		Code    json.RawMessage `json:"code"`
		Message json.RawMessage `json:"message"`
	}
	switch e := bytes.TrimSpace(doc.Error); {
	case len(e) > 0 && e[0] == '{' && json.Unmarshal(e, &inner) == nil && (inner.Code != nil || inner.Message != nil):
		code, message = cmp.Or(jsonText(inner.Code), code), cmp.Or(jsonText(inner.Message), message)
	case len(e) > 0 && message == "":
		message = jsonText(e)
	}
	if len(message) > maxMessage {
		message = message[:maxMessage] + "…"
	}
	return code, message
}

// jsonText is a JSON string's value, or any other non-null value's compact text.
func jsonText(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || string(v) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return strings.TrimSpace(s)
	}
	var b bytes.Buffer
	if json.Compact(&b, v) == nil {
		return b.String()
	}
	return string(v)
}

// callID is the string at key in a JSON object (or the only element of a list there).
func callID(body []byte, key string) string {
	var doc map[string]json.RawMessage
	if json.Unmarshal(body, &doc) != nil {
		return ""
	}
	var s string
	if json.Unmarshal(doc[key], &s) == nil {
		return strings.TrimSpace(s)
	}
	var list []string
	if json.Unmarshal(doc[key], &list) == nil && len(list) == 1 {
		return strings.TrimSpace(list[0])
	}
	return ""
}
