package carriertest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/switchboard-dev/switchboard/carriers"
)

// recorder collects what the checks report.
type recorder struct{ errs []string }

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// has reports whether one report contains want, where "{…}" stands for any text.
func (r *recorder) has(want string) bool {
	for _, e := range r.errs {
		rest, ok := e, true
		for part := range strings.SplitSeq(want, "{…}") {
			_, after, found := strings.Cut(rest, part)
			rest, ok = after, ok && found
		}
		if ok {
			return true
		}
	}
	return false
}

var specs = []carriers.FieldSpec{
	{Name: "user_id", Label: "User ID", Description: "The user.", Required: true, Pattern: `^U[0-9]{4}$`, Example: "U1234"},
	{Name: "password", Label: "Password", Description: "The password.", Secret: true, Required: true, Example: "hunter2"},
}

const validDoc = `{"user_id":"U0042","password":"correct-horse-battery"}`

// good follows the contract; the broken variants below each break one rule.
type good struct{}

func (good) Info() carriers.Info {
	return carriers.Info{ID: "good", DisplayName: "Good", CredentialFields: specs}
}

func (good) ParseCredentials(raw json.RawMessage) (carriers.Credentials, error) {
	m, err := carriers.DecodeFields(raw, "Good", specs)
	if err != nil {
		return nil, err
	}
	return goodCreds{UserID: m["user_id"], Password: m["password"]}, nil
}

func (good) Originate(_ context.Context, _ carriers.Credentials, r carriers.OriginateRequest) (carriers.OriginateResult, error) {
	if err := r.Validate("good"); err != nil {
		return carriers.OriginateResult{}, err
	}
	return carriers.OriginateResult{}, &carriers.Error{Carrier: "good", Code: "unsupported", Message: "good places no calls"}
}

type goodCreds struct {
	UserID   string `json:"user_id"`
	Password string `json:"password"`
}

func (c goodCreds) Hint() string     { return carriers.MaskHint(c.UserID, 1, 2) }
func (c goodCreds) String() string   { return "good " + c.Hint() }
func (c goodCreds) GoString() string { return c.String() }

// leakyHint puts the password in the hint.
type leakyHint struct{ good }

func (leakyHint) ParseCredentials(raw json.RawMessage) (carriers.Credentials, error) {
	c, err := good{}.ParseCredentials(raw)
	if err != nil {
		return nil, err
	}
	return leakyHintCreds{c.(goodCreds)}, nil
}

type leakyHintCreds struct{ goodCreds }

func (c leakyHintCreds) Hint() string { return c.UserID + ":" + c.Password }

// printable has no String method, so fmt shows the password.
type printable struct{ good }

type plainCreds struct {
	UserID   string `json:"user_id"`
	Password string `json:"password"`
}

func (c plainCreds) Hint() string { return "U…" }

func (printable) ParseCredentials(raw json.RawMessage) (carriers.Credentials, error) {
	c, err := good{}.ParseCredentials(raw)
	if err != nil {
		return nil, err
	}
	g := c.(goodCreds)
	return plainCreds(g), nil
}

// unsealable loses the password when marshalled.
type unsealable struct{ good }

type unsealableCreds struct {
	UserID   string `json:"user_id"`
	Password string `json:"-"`
}

func (c unsealableCreds) Hint() string   { return "U…" }
func (c unsealableCreds) String() string { return "x" }

func (unsealable) ParseCredentials(raw json.RawMessage) (carriers.Credentials, error) {
	c, err := good{}.ParseCredentials(raw)
	if err != nil {
		return nil, err
	}
	g := c.(goodCreds)
	return unsealableCreds(g), nil
}

// plainErrors returns errors that are not *carriers.FieldError and echo the document.
type plainErrors struct{ good }

func (plainErrors) ParseCredentials(raw json.RawMessage) (carriers.Credentials, error) {
	c, err := good{}.ParseCredentials(raw)
	if err != nil {
		return nil, fmt.Errorf("bad credentials %s", raw)
	}
	return c, nil
}

// lenient ignores unknown keys and does not require anything.
type lenient struct{ good }

func (lenient) ParseCredentials(raw json.RawMessage) (carriers.Credentials, error) {
	var c goodCreds
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, &carriers.FieldError{Message: "not an object"}
	}
	return c, nil
}

// badInfo has an Example that does not match its Pattern and no description.
type badInfo struct{ good }

func (badInfo) Info() carriers.Info {
	f := specs[0]
	f.Example, f.Description = "X1", ""
	return carriers.Info{ID: "Bad Id", DisplayName: "Bad", CredentialFields: []carriers.FieldSpec{f, f}}
}

// httpCarrier places calls over HTTP with the shared client; its flags each break one rule.
type httpCarrier struct {
	good
	base                             string
	lax, retry, leak, trusting, hang bool
	certain                          bool // takes every unknown outcome for a refusal
	muddled                          bool // adds a *carriers.Error to every unknown outcome
}

func (h httpCarrier) WithBaseURL(base string) carriers.Carrier { h.base = base; return h }

func (h httpCarrier) Originate(ctx context.Context, c carriers.Credentials, r carriers.OriginateRequest) (carriers.OriginateResult, error) {
	if h.hang {
		panic("hang up")
	}
	if err := r.Validate("good"); err != nil && !h.lax {
		return carriers.OriginateResult{}, err
	}
	creds := c.(goodCreds)
	api := carriers.APIClient{Carrier: "good", Secrets: []string{creds.Password}}
	for attempt := 0; ; attempt++ {
		req, _ := carriers.NewJSONRequest(http.MethodPost, h.base+"/calls", map[string]string{"to": r.To})
		req.SetBasicAuth(creds.UserID, creds.Password)
		res, err := api.Originate(ctx, req, "id")
		if err != nil && h.retry && attempt == 0 {
			continue
		}
		if err != nil && h.leak {
			err = fmt.Errorf("%w (with password %s)", err, creds.Password)
		}
		if errors.Is(err, carriers.ErrOutcomeUnknown) {
			refusal := &carriers.Error{Carrier: "good", HTTPStatus: http.StatusInternalServerError, Code: "500", Message: "taken for a refusal"}
			switch {
			case h.certain:
				err = refusal
			case h.muddled:
				err = fmt.Errorf("%w: %w", err, refusal)
			}
		}
		return res, err
	}
}

func (h httpCarrier) VerifyCredentials(ctx context.Context, c carriers.Credentials) error {
	req, _ := http.NewRequest(http.MethodGet, h.base+"/me", nil)
	return carriers.APIClient{Carrier: "good"}.Verify(ctx, req)
}

func (h httpCarrier) ParseStatusCallback(r *http.Request, u string, c carriers.Credentials) (carriers.StatusEvent, error) {
	if !h.trusting && !carriers.MatchHMAC(sha256.New, c.(goodCreds).Password, r.Header.Get("X-Good-Signature"), u) {
		return carriers.StatusEvent{}, carriers.BadSignature("good", "no")
	}
	return carriers.StatusEvent{ProviderCallID: "c1", Status: carriers.StatusCompleted}, nil
}

func runAll(c carriers.Carrier, docs ...string) *recorder {
	r := &recorder{}
	checkInfo(r, c)
	for _, d := range docs {
		checkValid(r, c, json.RawMessage(d))
	}
	checkNotObject(r, c)
	if creds, err := c.ParseCredentials(json.RawMessage(docs[0])); err == nil {
		checkOriginate(r, c, creds, []string{"correct-horse-battery"})
		checkCallbacks(r, c, creds)
	}
	return r
}

func TestChecksPassAGoodCarrier(t *testing.T) {
	for _, c := range []carriers.Carrier{good{}, httpCarrier{}} {
		if r := runAll(c, validDoc, "  "+validDoc+"\n"); len(r.errs) > 0 {
			t.Errorf("a conforming carrier (%T) was reported:\n%s", c, strings.Join(r.errs, "\n"))
		}
	}
}

func TestChecksCatchBrokenCarriers(t *testing.T) {
	tests := []struct {
		name    string
		carrier carriers.Carrier
		doc     string
		want    []string
	}{
		{"hint leaks a secret", leakyHint{}, validDoc, []string{"Hint() \"U0042:correct-horse-battery\" contains the value of a secret field"}},
		{"fmt shows a secret", printable{}, validDoc, []string{"fmt %v", "fmt %+v", "fmt %#v"}},
		{"no round trip", unsealable{}, validDoc, []string{"could not be opened again"}},
		{"plain errors", plainErrors{}, validDoc, []string{"is not a *carriers.FieldError"}},
		{"lenient parser", lenient{}, validDoc, []string{
			`without required key "password": ParseCredentials succeeded`,
			`with an unknown key: ParseCredentials succeeded`,
			`document "null": ParseCredentials succeeded`,
		}},
		{"bad info", badInfo{}, validDoc, []string{"Info() is invalid", "no Description", `Example "X1" does not match`}},
		{"invalid valid document", good{}, `{"user_id":"nope","password":"x"}`, []string{"ParseCredentials(valid document) failed"}},
		{"valid document not an object", good{}, `[1]`, []string{"is not a JSON object"}},
		{"sends malformed requests", httpCarrier{lax: true}, validDoc, []string{
			`To without +: error "good: outcome unknown: the carrier may have placed the call (POST 127.0.0.1:{…}: HTTP 500: Internal Server Error)" ({…}) is not a *carriers.Error`,
			"malformed requests reached the carrier"}},
		{"retries", httpCarrier{retry: true}, validDoc, []string{
			"HTTP 400: the carrier received 2 requests, want exactly 1",
			"HTTP 500: the carrier received 2 requests, want exactly 1",
			"HTTP 503: the carrier received 2 requests, want exactly 1",
			"HTTP 201 without a call id: the carrier received 2 requests"}},
		{"takes a 5xx for a refusal", httpCarrier{certain: true}, validDoc, []string{
			`HTTP 500: error "good refused the request (HTTP 500): taken for a refusal" does not wrap carriers.ErrOutcomeUnknown`,
			`HTTP 503: error "good refused the request (HTTP 500): taken for a refusal" does not wrap carriers.ErrOutcomeUnknown`,
			`HTTP 201 without a call id: error "good refused the request`,
			`unreachable carrier: error "good refused the request`}},
		{"a 5xx is both unknown and refused", httpCarrier{muddled: true}, validDoc, []string{
			`HTTP 500: error "good: outcome unknown: the carrier may have placed the call (POST 127.0.0.1:{…}: HTTP 500: Internal Server Error): good refused the request (HTTP 500): taken for a refusal" wraps carriers.ErrOutcomeUnknown but is also a *carriers.Error`,
			`HTTP 503: error "good: outcome unknown: the carrier may have placed the call (POST 127.0.0.1:{…}: HTTP 503: Service Unavailable): good refused the request (HTTP 500): taken for a refusal" wraps carriers.ErrOutcomeUnknown but is also a *carriers.Error`}},
		{"panics", httpCarrier{hang: true}, validDoc, []string{"empty From: Originate panicked: hang up"}},
		{"leaks the password", httpCarrier{leak: true}, validDoc, []string{"shows the value of a secret field"}},
		{"trusts unsigned callbacks", httpCarrier{trusting: true}, validDoc, []string{
			"an unsigned status callback: got accepted as"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runAll(tt.carrier, tt.doc)
			if len(r.errs) == 0 {
				t.Fatal("nothing was reported")
			}
			for _, w := range tt.want {
				if !r.has(w) {
					t.Errorf("no report mentions %q; got:\n%s", w, strings.Join(r.errs, "\n"))
				}
			}
		})
	}
}

func TestChecksCatchEchoedValues(t *testing.T) {
	r := runAll(plainErrors{}, validDoc)
	if !r.has("contains a submitted value") && !r.has("is not a *carriers.FieldError") {
		t.Errorf("echoing errors were not reported:\n%s", strings.Join(r.errs, "\n"))
	}
}

func TestCheckFuzzInput(t *testing.T) {
	for _, in := range []string{"", "null", validDoc, `{"user_id":"U1"}`, "\xff"} {
		r := &recorder{}
		checkFuzzInput(r, good{}, []byte(in))
		if len(r.errs) > 0 {
			t.Errorf("input %q: %v", in, r.errs)
		}
	}
	r := &recorder{}
	checkFuzzInput(r, unsealable{}, []byte(validDoc))
	if !r.has("round trip") {
		t.Errorf("a carrier that cannot round-trip was not reported: %v", r.errs)
	}
	r = &recorder{}
	checkFuzzInput(r, plainErrors{}, []byte("null"))
	if !r.has("not a *carriers.FieldError") {
		t.Errorf("a plain error was not reported: %v", r.errs)
	}
}

// TestConformanceGood runs the public entry point on a conforming carrier.
func TestConformanceGood(t *testing.T) {
	Conformance(t, good{}, json.RawMessage(validDoc))
	Conformance(t, httpCarrier{}, json.RawMessage(validDoc))
}

func FuzzGood(f *testing.F) {
	FuzzParseCredentials(f, good{}, []byte(validDoc))
}
