package carriertest

import (
	"encoding/json"
	"fmt"
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

func (r *recorder) has(part string) bool {
	for _, e := range r.errs {
		if strings.Contains(e, part) {
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

func runAll(c carriers.Carrier, docs ...string) *recorder {
	r := &recorder{}
	checkInfo(r, c)
	for _, d := range docs {
		checkValid(r, c, json.RawMessage(d))
	}
	checkNotObject(r, c)
	return r
}

func TestChecksPassAGoodCarrier(t *testing.T) {
	if r := runAll(good{}, validDoc, "  "+validDoc+"\n"); len(r.errs) > 0 {
		t.Errorf("a conforming carrier was reported:\n%s", strings.Join(r.errs, "\n"))
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
}

func FuzzGood(f *testing.F) {
	FuzzParseCredentials(f, good{}, []byte(validDoc))
}
