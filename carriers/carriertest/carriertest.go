// Package carriertest is a conformance kit for carrier plugin authors. A plugin's tests call
//
//	carriertest.Conformance(t, Carrier{}, validDoc1, validDoc2)
//
// with one valid credentials document per accepted shape, and may fuzz ParseCredentials with
// [FuzzParseCredentials].
package carriertest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/switchboard-dev/switchboard/carriers"
)

// reporter is the part of *testing.T the checks use, so the kit's own tests can record failures.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// Conformance checks that c keeps the plugin contract:
//   - Info is valid: an id and display name, at least one credential field, no duplicate names,
//     every Example matching its Pattern (see carriers.Info.Validate);
//   - every valid document parses, and json.Marshal of the result parses again to the same JSON
//     and the same non-empty Hint;
//   - neither the Hint nor fmt's %v, %+v, %#v and %s of the credentials contain a secret field's
//     value (secrets shorter than 6 bytes are not looked for);
//   - removing each required key gives a *carriers.FieldError naming that key;
//   - an unknown key, and a near-typo of a real key, give a *carriers.FieldError naming the key
//     (the typo's message suggests the real key);
//   - a non-string value for a key gives a *carriers.FieldError naming it;
//   - documents that are not a JSON object give a *carriers.FieldError with Field "";
//   - no error message contains a value from the submitted document;
//
// and, with the credentials of the first valid document, that the calling side keeps it too:
//   - Originate refuses malformed requests (bad numbers, relative or non-http URLs, a negative
//     ring timeout) with a *carriers.Error, without panicking;
//   - when the plugin is a carriers.Rebaser, pointed at fake servers: nothing is sent for a
//     malformed request; a 400 reply gives a *carriers.Error with HTTPStatus 400; a 500 or 503
//     reply (the carrier may have created the call before failing), a 2xx reply without a call
//     id and an unreachable server give errors wrapping carriers.ErrOutcomeUnknown that are not
//     a *carriers.Error, quickly; each of those made exactly one request (no retry); and no
//     error shows a secret. A carriers.Verifier must give a *carriers.Error for a 401 and
//     another error for an unreachable server;
//   - a carriers.CallbackParser refuses an unsigned callback with an error wrapping
//     carriers.ErrBadSignature.
//
// Each valid document runs as its own subtest.
func Conformance(t *testing.T, c carriers.Carrier, valid ...json.RawMessage) {
	t.Helper()
	if c == nil {
		t.Fatal("carriertest.Conformance: carrier is nil")
	}
	t.Run("Info", func(t *testing.T) { checkInfo(t, c) })
	if len(valid) == 0 {
		t.Error("carriertest.Conformance needs at least one valid credentials document")
	}
	for i, doc := range valid {
		t.Run(fmt.Sprintf("valid_%d", i), func(t *testing.T) { checkValid(t, c, doc) })
	}
	t.Run("NotAnObject", func(t *testing.T) { checkNotObject(t, c) })
	if len(valid) == 0 {
		return
	}
	creds, err := c.ParseCredentials(valid[0])
	if err != nil || creds == nil {
		return // reported by valid_0
	}
	var obj map[string]any
	_ = json.Unmarshal(valid[0], &obj)
	secrets := secretValues(c.Info(), obj)
	t.Run("Originate", func(t *testing.T) { checkOriginate(t, c, creds, secrets) })
	t.Run("StatusCallback", func(t *testing.T) { checkCallbacks(t, c, creds) })
}

func checkInfo(r reporter, c carriers.Carrier) {
	r.Helper()
	info := c.Info()
	if err := info.Validate(); err != nil {
		r.Errorf("Info() is invalid: %v", err)
	}
	if len(info.CredentialFields) == 0 {
		r.Errorf("Info() of %q lists no credential fields", info.ID)
	}
	for _, f := range info.CredentialFields {
		if strings.TrimSpace(f.Description) == "" {
			r.Errorf("credential field %q has no Description", f.Name)
		}
		if f.Pattern == "" {
			continue
		}
		re, err := regexp.Compile(f.Pattern)
		if err != nil {
			r.Errorf("credential field %q: Pattern %s does not compile: %v", f.Name, f.Pattern, err)
		} else if !re.MatchString(f.Example) {
			r.Errorf("credential field %q: Example %q does not match Pattern %s", f.Name, f.Example, f.Pattern)
		}
	}
}

func checkValid(r reporter, c carriers.Carrier, doc json.RawMessage) {
	r.Helper()
	info := c.Info()
	var obj map[string]any
	if err := json.Unmarshal(doc, &obj); err != nil || obj == nil {
		r.Errorf("valid document %s is not a JSON object: %v", doc, err)
		return
	}
	creds, err := c.ParseCredentials(doc)
	if err != nil {
		r.Errorf("ParseCredentials(valid document) failed: %v", err)
		return
	}
	if creds == nil {
		r.Errorf("ParseCredentials(valid document) returned nil credentials and no error")
		return
	}
	hint := creds.Hint()
	if hint == "" {
		r.Errorf("Hint() is empty")
	}

	// Values of secret fields (trimmed, as the parser sees them) must not leak. Secrets shorter
	// than minValueLen are skipped: they could occur in any text by chance.
	secrets := secretValues(info, obj)
	for _, s := range secrets {
		if strings.Contains(hint, s) {
			r.Errorf("Hint() %q contains the value of a secret field", hint)
		}
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			if strings.Contains(fmt.Sprintf(verb, creds), s) {
				r.Errorf("fmt %s of the credentials shows the value of a secret field; give the type String and GoString methods that redact it", verb)
			}
		}
	}

	// Round trip: the sealed form is json.Marshal of the credentials.
	sealed, err := json.Marshal(creds)
	if err != nil {
		r.Errorf("json.Marshal(credentials) failed: %v", err)
		return
	}
	again, err := c.ParseCredentials(sealed)
	if err != nil {
		r.Errorf("ParseCredentials(json.Marshal(credentials)) failed, so sealed credentials could not be opened again: %v", err)
		return
	}
	if again.Hint() != hint {
		r.Errorf("after a JSON round trip Hint() = %q, want %q", again.Hint(), hint)
	}
	if resealed, err := json.Marshal(again); err != nil || !bytes.Equal(resealed, sealed) {
		r.Errorf("a JSON round trip changed the credentials (err %v)", err)
	}

	values := stringValues(obj)
	expectFieldError := func(what string, mutated map[string]any, field string, mustMention string) {
		r.Helper()
		raw, _ := json.Marshal(mutated)
		_, err := c.ParseCredentials(raw)
		fe := asFieldError(r, what, err)
		if fe == nil {
			return
		}
		if fe.Field != field {
			r.Errorf("%s: FieldError.Field = %q, want %q (message %q)", what, fe.Field, field, fe.Message)
		}
		if mustMention != "" && !strings.Contains(fe.Error(), mustMention) {
			r.Errorf("%s: message %q does not mention %q", what, fe.Error(), mustMention)
		}
		checkNoValues(r, what, fe.Error(), values)
	}

	for _, f := range info.CredentialFields {
		if !f.Required {
			continue
		}
		m := clone(obj)
		delete(m, f.Name)
		expectFieldError(fmt.Sprintf("without required key %q", f.Name), m, f.Name, f.Name)
	}

	unknown := "x_conformance_unknown_key"
	m := clone(obj)
	m[unknown] = "value"
	expectFieldError("with an unknown key", m, unknown, unknown)

	if len(info.CredentialFields) > 0 {
		first := info.CredentialFields[0].Name
		typo := first + "x"
		if _, clash := obj[typo]; !clash && !hasField(info, typo) {
			m := clone(obj)
			m[typo] = "value"
			expectFieldError(fmt.Sprintf("with the typo key %q", typo), m, typo, first)
		}
	}

	for _, f := range info.CredentialFields {
		if _, present := obj[f.Name]; !present {
			continue
		}
		m := clone(obj)
		m[f.Name] = 12345
		expectFieldError(fmt.Sprintf("with a number for %q", f.Name), m, f.Name, f.Name)
	}
}

func checkNotObject(r reporter, c carriers.Carrier) {
	r.Helper()
	for _, doc := range []string{"", "null", "[]", `["a"]`, `"a string"`, "42", "true", "{", `{"a":}`, `{} {}`} {
		_, err := c.ParseCredentials(json.RawMessage(doc))
		fe := asFieldError(r, fmt.Sprintf("document %q", doc), err)
		if fe != nil && fe.Field != "" {
			r.Errorf("document %q: FieldError.Field = %q, want \"\" (the document as a whole)", doc, fe.Field)
		}
	}
}

// asFieldError reports unless err is (or wraps) a *carriers.FieldError, and returns it.
func asFieldError(r reporter, what string, err error) *carriers.FieldError {
	r.Helper()
	if err == nil {
		r.Errorf("%s: ParseCredentials succeeded, want a *carriers.FieldError", what)
		return nil
	}
	var fe *carriers.FieldError
	if !errors.As(err, &fe) || fe == nil {
		r.Errorf("%s: error %q (%T) is not a *carriers.FieldError", what, err, err)
		return nil
	}
	return fe
}

// minValueLen is the shortest submitted value the leak checks look for; shorter ones can occur
// in any sentence by chance. Use realistic secrets in valid documents.
const minValueLen = 6

// checkNoValues reports if msg contains one of the submitted values.
func checkNoValues(r reporter, what, msg string, values []string) {
	r.Helper()
	for _, v := range values {
		if len(v) >= minValueLen && strings.Contains(msg, v) {
			r.Errorf("%s: error message %q contains a submitted value", what, msg)
		}
	}
}

// secretValues returns the trimmed values of obj's secret fields, those long enough to look for.
func secretValues(info carriers.Info, obj map[string]any) []string {
	var secrets []string
	for _, f := range info.CredentialFields {
		if s, ok := obj[f.Name].(string); ok && f.Secret && len(strings.TrimSpace(s)) >= minValueLen {
			secrets = append(secrets, strings.TrimSpace(s))
		}
	}
	return secrets
}

func stringValues(obj map[string]any) []string {
	var out []string
	for _, v := range obj {
		if s, ok := v.(string); ok {
			out = append(out, strings.TrimSpace(s))
		}
	}
	return out
}

func clone(obj map[string]any) map[string]any {
	m := make(map[string]any, len(obj)+1)
	for k, v := range obj {
		m[k] = v
	}
	return m
}

func hasField(info carriers.Info, name string) bool {
	for _, f := range info.CredentialFields {
		if f.Name == name {
			return true
		}
	}
	return false
}

// FuzzParseCredentials fuzzes c.ParseCredentials starting from seeds (plus a few generic ones):
// it must not panic, every error must be a *carriers.FieldError, and every success must survive a
// JSON round trip with the same JSON and Hint. Call it from a plugin's Fuzz function:
//
//	func FuzzParseCredentials(f *testing.F) { carriertest.FuzzParseCredentials(f, Carrier{}, seeds...) }
func FuzzParseCredentials(f *testing.F, c carriers.Carrier, seeds ...[]byte) {
	f.Helper()
	for _, s := range [][]byte{nil, []byte("null"), []byte("{}"), []byte("[]"), []byte(`{"":""}`)} {
		f.Add(s)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFuzzInput(t, c, data)
	})
}

func checkFuzzInput(r reporter, c carriers.Carrier, data []byte) {
	r.Helper()
	creds, err := c.ParseCredentials(data)
	if err != nil {
		var fe *carriers.FieldError
		if !errors.As(err, &fe) {
			r.Errorf("error %q (%T) is not a *carriers.FieldError", err, err)
		}
		return
	}
	if creds == nil {
		r.Errorf("ParseCredentials returned nil credentials and no error")
		return
	}
	sealed, err := json.Marshal(creds)
	if err != nil {
		r.Errorf("json.Marshal(credentials): %v", err)
		return
	}
	again, err := c.ParseCredentials(sealed)
	if err != nil {
		r.Errorf("credentials do not survive a JSON round trip: %v", err)
		return
	}
	if again.Hint() != creds.Hint() {
		r.Errorf("Hint changed in a JSON round trip: %q → %q", creds.Hint(), again.Hint())
	}
	if resealed, _ := json.Marshal(again); !bytes.Equal(resealed, sealed) {
		r.Errorf("credentials changed in a JSON round trip")
	}
}
