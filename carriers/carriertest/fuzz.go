package carriertest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/switchboard-dev/switchboard/carriers"
)

// Helpers of the carriers' fuzz targets: they build credentials documents and status callbacks
// from fuzzed values, and hold the checks the targets share, so that each target keeps only what
// is its carrier's own (seeds, the oracle of its documented rules, its signature scheme).

// Disguise changes a submitted value into another one the parser must treat the same way, apart
// from showing it: the first keep characters after leading white space stay, and after them each
// ASCII digit, a–f, A–F, g–z and G–Z moves to the next one in its group (9→0, f→a, z→g, …).
// White space, length and the carriers' ID patterns' verdicts are unchanged (keep 3 leaves a
// pattern's fixed prefix alone), so a message that differs between a value and its disguise
// shows (part of) the value.
func Disguise(v string, keep int) string {
	b := []byte(v)
	start := len(v) - len(strings.TrimLeftFunc(v, unicode.IsSpace)) + keep
	for i := start; i < len(b); i++ {
		for _, g := range []string{"0123456789", "abcdef", "ABCDEF", "ghijklmnopqrstuvwxyz", "GHIJKLMNOPQRSTUVWXYZ"} {
			if j := strings.IndexByte(g, b[i]); j >= 0 {
				b[i] = g[(j+1)%len(g)]
				break
			}
		}
	}
	return string(b)
}

// CredentialsDoc writes a credentials document with values[i] for keys[i]. Two bits
// of layout per key choose how it appears: 0 absent, 1 a string, 2 null, 3 the string in an
// array. Bit 8 repeats the first key, bit 9 adds an unknown key holding the last value, bit 10
// reverses the order of the keys.
func CredentialsDoc(keys, values []string, layout uint16) []byte {
	type kv struct {
		k string
		v any
	}
	var kvs []kv
	for i, k := range keys {
		switch layout >> (2 * i) & 3 {
		case 1:
			kvs = append(kvs, kv{k, values[i]})
		case 2:
			kvs = append(kvs, kv{k, nil})
		case 3:
			kvs = append(kvs, kv{k, []string{values[i]}})
		}
	}
	if layout&0x100 != 0 && len(kvs) > 0 {
		kvs = append(kvs, kvs[0])
	}
	if layout&0x200 != 0 {
		kvs = append(kvs, kv{"x_unknown", values[len(values)-1]})
	}
	if layout&0x400 != 0 {
		slices.Reverse(kvs)
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range kvs {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(e.k)
		v, _ := json.Marshal(e.v)
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// Sent is v as the parser receives it after JSON encoding (invalid UTF-8 becomes U+FFFD).
func Sent(v string) string {
	b, _ := json.Marshal(v)
	var s string
	_ = json.Unmarshal(b, &s)
	return s
}

// Shown is everything the credentials show of themselves.
func Shown(c carriers.Credentials) []string {
	out := []string{c.Hint(), c.(fmt.Stringer).String(), c.(fmt.GoStringer).GoString(), c.(slog.LogValuer).LogValue().String()}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out = append(out, fmt.Sprintf(verb, c))
	}
	return out
}

// Fields is what the document CredentialsDoc(keys, values, layout) holds by the rules every
// carrier shares: for each key its value as sent and trimmed when given as a string, "" when it
// is absent or null; ok is false when layout gives a value in an array or asks for a repeated or
// unknown key (bits 8 and 9), which the shared decoder rejects.
func Fields(values []string, layout uint16) (v []string, ok bool) {
	ok = layout&0x300 == 0
	v = make([]string, len(values))
	for i := range values {
		switch layout >> (2 * i) & 3 {
		case 1:
			v[i] = strings.TrimSpace(Sent(values[i]))
		case 3:
			ok = false
		}
	}
	return v, ok
}

// CredentialFields is a plugin's side of [CheckCredentialFields].
type CredentialFields struct {
	Carrier carriers.Carrier
	// Keys are the keys of a credentials document, in the order of the fuzzed values; Secret
	// says which of them are secret.
	Keys   []string
	Secret map[string]bool
	// WellFormed is the oracle of the plugin's documented rules: whether they accept the
	// document CredentialsDoc(Keys, values, layout).
	WellFormed func(values []string, layout uint16) bool
	// Shape, when set, is a rule of the plugin's own over the fields the shared decoder accepted
	// ("" for a key not given): the key it rejects them for and a part of the message that says
	// why, or message "" when it accepts them.
	Shape func(fields map[string]string) (field, message string)
	// Credentials are what an accepted document gives, from its values as [Fields] has them.
	Credentials func(v []string) carriers.Credentials
}

// PlivoStyleFields is CredentialFields for a Plivo-style document: auth_id in the format
// authIDRule matches (trimmed) and auth_token, the secret, any string that is not blank, both
// required; creds builds the plugin's credentials from them.
func PlivoStyleFields(c carriers.Carrier, authIDRule *regexp.Regexp, creds func(authID, authToken string) carriers.Credentials) CredentialFields {
	return CredentialFields{
		Carrier: c,
		Keys:    []string{"auth_id", "auth_token"},
		Secret:  map[string]bool{"auth_token": true},
		WellFormed: func(values []string, layout uint16) bool {
			v, ok := Fields(values, layout)
			return ok && authIDRule.MatchString(v[0]) && v[1] != ""
		},
		Credentials: func(v []string) carriers.Credentials { return creds(v[0], v[1]) },
	}
}

// CheckCredentialFields checks s.Carrier's ParseCredentials with the document
// CredentialsDoc(s.Keys, values, layout) exactly: it accepts the document exactly when
// s.WellFormed says so; it fails exactly when the shared decoder does, with the decoder's error,
// or else as s.Shape says; accepted credentials are s.Credentials of the submitted values
// trimmed (as the decoder has them too) and survive a JSON round trip; and neither an error nor
// the credentials' String, GoString, LogValue, Hint or fmt output change when the values are
// disguised (all of them, or only the secrets), so none of them shows a value.
func CheckCredentialFields(t *testing.T, s CredentialFields, values []string, layout uint16) {
	t.Helper()
	parse := func(doc []byte) (carriers.Credentials, error) { return s.Carrier.ParseCredentials(doc) }
	doc := CredentialsDoc(s.Keys, values, layout)
	got, err := parse(doc)
	if want := s.WellFormed(values, layout); (err == nil) != want {
		t.Fatalf("ParseCredentials(%s) = %v, %v; the documented rules say accepted = %v", doc, got, err, want)
	}

	// Disguised: every value, or only the secrets.
	all, secrets := slices.Clone(values), slices.Clone(values)
	for i, k := range s.Keys {
		all[i] = Disguise(values[i], 3)
		if s.Secret[k] {
			all[i] = Disguise(values[i], 0)
			secrets[i] = all[i]
		}
	}
	allDoc := CredentialsDoc(s.Keys, all, layout)
	_, err2 := parse(allDoc)
	if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
		t.Fatalf("ParseCredentials(%s): %v\nbut with the values disguised, ParseCredentials(%s): %v", doc, err, allDoc, err2)
	}

	info := s.Carrier.Info()
	m, decodeErr := carriers.DecodeFields(doc, info.DisplayName, info.CredentialFields)
	if decodeErr != nil {
		var fe, want *carriers.FieldError
		errors.As(decodeErr, &want)
		if !errors.As(err, &fe) || *fe != *want || got != nil {
			t.Fatalf("ParseCredentials(%s) = %v, %v; want the shared decoder's error %v", doc, got, err, decodeErr)
		}
		CheckNotShown(t, fmt.Sprintf("ParseCredentials(%s)", doc), err.Error(), err2.Error(), values)
		return
	}
	if s.Shape != nil {
		if field, msg := s.Shape(m); msg != "" {
			var fe *carriers.FieldError
			if !errors.As(err, &fe) || fe.Field != field || got != nil || !strings.Contains(fe.Message, msg) {
				t.Fatalf("ParseCredentials(%s) = %v, %v; want a *FieldError for %q saying %q", doc, got, err, field, msg)
			}
			CheckNotShown(t, fmt.Sprintf("ParseCredentials(%s)", doc), err.Error(), err2.Error(), values)
			return
		}
	}

	if err != nil {
		t.Fatalf("ParseCredentials(%s) = %v, want success", doc, err)
	}
	v, _ := Fields(values, layout)
	for i, k := range s.Keys {
		if m[k] != v[i] {
			t.Fatalf("DecodeFields(%s)[%q] = %q, want the trimmed value %q", doc, k, m[k], v[i])
		}
	}
	if got != s.Credentials(v) {
		t.Fatalf("ParseCredentials(%s) = %#v (%T), want the trimmed values %q", doc, got, got, v)
	}
	sealed, _ := json.Marshal(got)
	if again, err := parse(sealed); err != nil || again != got {
		t.Fatalf("ParseCredentials(json.Marshal(credentials) = %s) = %v; want the same credentials", sealed, err)
	}
	c2, err := parse(CredentialsDoc(s.Keys, secrets, layout))
	if err != nil {
		t.Fatalf("with the secrets disguised: %v", err)
	}
	out, out2 := Shown(got), Shown(c2)
	if !slices.Equal(out, out2) {
		t.Fatalf("the credentials show %q, but with other secrets %q: they show a secret", out, out2)
	}
	for i, k := range s.Keys {
		if !s.Secret[k] || len(v[i]) < 8 {
			continue
		}
		for j := range out {
			if strings.Contains(out[j], v[i]) && !strings.Contains(out2[j], v[i]) {
				t.Fatalf("the credentials show the secret %q: %q", v[i], out[j])
			}
		}
	}
}

// CheckNotShown fails if msg, the message of call, shows a submitted value (as sent, trimmed) of
// at least 8 characters that msg2, the message for the values disguised, does not: one that is
// not just part of the sentence.
func CheckNotShown(t *testing.T, call, msg, msg2 string, values []string) {
	t.Helper()
	for _, v := range values {
		v = strings.TrimSpace(Sent(v))
		if len(v) >= 8 && strings.Contains(msg, v) && !strings.Contains(msg2, v) {
			t.Fatalf("%s: message %q shows the submitted value %q", call, msg, v)
		}
	}
}

// Concat is the parameters' part of the text Twilio and Plivo sign: each parameter's name then
// its value, sorted by name (a repeated name's values sorted too), with no separators.
func Concat(form url.Values) string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(form)) {
		for _, v := range slices.Sorted(slices.Values(form[name])) {
			b.WriteString(name + v)
		}
	}
	return b.String()
}

// Modes of the carriers' FuzzStatusCallback targets: how a callback is signed or tampered with.
// Each target adds its own from ModeOwn on.
const (
	ModeSigned      = iota // signed as the carrier signs it
	ModeVariant            // a variant the carrier's scheme must accept too (each target says which)
	ModeSeveral            // the right signature among others, with white space
	ModeWrongKey           // signed with another key
	ModeFlippedSig         // one byte of the right signature changed
	ModeMutatedBody        // signed, then one byte of the body changed
	ModeRawHeader          // the fuzzer's own signature header
	ModeOwn                // the first of a target's own modes
)

// Modes the Plivo-style targets (Plivo, Vobiz) add to the shared ones.
const (
	ModeOtherNonce  = ModeOwn + iota // the nonce header differs from the signed nonce
	ModeOtherPath                    // signed for another path
	PlivoStyleModes                  // how many modes a Plivo-style target has
)

// Tampered is the signature header and the body a callback is sent with in the shared modes
// ModeSeveral to ModeRawHeader (good and body, unchanged, in the others): good is the right
// signature, wrongKey the one made with another key, raw the fuzzer's own header; pos and xor
// choose the byte [Flip] changes.
func Tampered(mode uint8, good, wrongKey, body, raw string, pos uint16, xor uint8) (header, sent string) {
	header, sent = good, body
	switch mode {
	case ModeSeveral:
		header = "bogus=, " + good + " ,"
	case ModeWrongKey:
		header = wrongKey
	case ModeFlippedSig:
		header = Flip(good, pos, xor)
	case ModeMutatedBody:
		sent = Flip(body, pos, xor)
	case ModeRawHeader:
		header = raw
	}
	return header, sent
}

// Flip is s with its byte at pos (modulo its length) XORed with xor (1 for 0); an empty s becomes
// that one byte.
func Flip(s string, pos uint16, xor uint8) string {
	if s == "" {
		return string([]byte{max(xor, 1)})
	}
	b := []byte(s)
	b[int(pos)%len(b)] ^= max(xor, 1)
	return string(b)
}

// WithBody is r with its body replaced by body.
func WithBody(r *http.Request, body string) *http.Request {
	r.Body, r.ContentLength = io.NopCloser(strings.NewReader(body)), int64(len(body))
	return r
}

// Holds reports whether one of header's comma-separated parts, trimmed, is one of sigs.
func Holds(header string, sigs ...string) bool {
	for _, part := range strings.Split(header, ",") {
		if slices.Contains(sigs, strings.TrimSpace(part)) {
			return true
		}
	}
	return false
}

// CallbackRules are a carrier's documented rules for status callbacks, as the fuzz targets
// build and read them.
type CallbackRules struct {
	Params   []string                       // parameters holding the call id, status, duration and reason, for [CallbackRules.Form]
	Missing  string                         // a part of the ErrBadSignature message for a callback without its signature header
	Nonce    bool                           // the signature comes with a nonce header, which must be there too
	IDs      []string                       // parameters holding the call id: the first not blank, trimmed
	NoID     string                         // a part of the error for a callback without a call id
	Statuses map[string]carriers.CallStatus // CallStatus words, lower case (matched in any case, trimmed)
	Duration string                         // parameter holding a final status's duration in seconds
	Reason   func(form url.Values) string   // a final status's reason
}

// PlivoStyleCallbacks are the rules of Plivo-style callbacks (Plivo, Vobiz).
var PlivoStyleCallbacks = CallbackRules{
	Params:  []string{"CallUUID", "CallStatus", "Duration", "HangupCause"},
	Missing: "headers are required",
	Nonce:   true,
	IDs:     []string{"RequestUUID", "CallUUID"},
	NoID:    "has neither RequestUUID nor CallUUID",
	Statuses: map[string]carriers.CallStatus{
		"queued": carriers.StatusQueued, "ringing": carriers.StatusRinging, "in-progress": carriers.StatusInProgress,
		"completed": carriers.StatusCompleted, "busy": carriers.StatusBusy, "failed": carriers.StatusFailed,
		"timeout": carriers.StatusNoAnswer, "no-answer": carriers.StatusNoAnswer,
		"cancel": carriers.StatusCanceled, "canceled": carriers.StatusCanceled, "cancelled": carriers.StatusCanceled,
	},
	Duration: "Duration",
	Reason:   func(form url.Values) string { return FirstGiven(form, "HangupCause", "HangupCauseName") },
}

// FirstGiven is the first of form's names whose value is not blank, trimmed ("" if none).
func FirstGiven(form url.Values, names ...string) string {
	for _, name := range names {
		if v := strings.TrimSpace(form.Get(name)); v != "" {
			return v
		}
	}
	return ""
}

// Form is a status callback's parameters: r.Params[i]=values[i] for each value that is not
// empty, then extraName=extraValue when extraName is not empty (it may replace one of them).
func (r CallbackRules) Form(values []string, extraName, extraValue string) url.Values {
	form := url.Values{}
	for i, v := range values {
		if v != "" {
			form.Set(r.Params[i], v)
		}
	}
	if extraName != "" {
		form.Set(extraName, extraValue)
	}
	return form
}

var terminal = map[carriers.CallStatus]bool{carriers.StatusCompleted: true, carriers.StatusBusy: true,
	carriers.StatusFailed: true, carriers.StatusNoAnswer: true, carriers.StatusCanceled: true}

// Expect is what a validly signed callback with form must give by r: the event, or (a part of)
// the error that says what is wrong with it.
func (r CallbackRules) Expect(form url.Values) (carriers.StatusEvent, string) {
	ev := carriers.StatusEvent{ProviderCallID: FirstGiven(form, r.IDs...)}
	if ev.ProviderCallID == "" {
		return carriers.StatusEvent{}, r.NoID
	}
	word := strings.TrimSpace(form.Get("CallStatus"))
	st, ok := r.Statuses[strings.ToLower(word)]
	switch {
	case word == "":
		return carriers.StatusEvent{}, "has no call status"
	case !ok:
		return carriers.StatusEvent{}, "has an unknown call status"
	}
	ev.Status = st
	if !terminal[st] {
		return ev, ""
	}
	if d := strings.TrimSpace(form.Get(r.Duration)); d != "" {
		var err error
		if ev.Duration, err = carriers.ParseSeconds(d); err != nil {
			return carriers.StatusEvent{}, r.Duration
		}
	}
	ev.Reason = r.Reason(form)
	return ev, ""
}

// SentCallback is a status callback a fuzz target sent, as [CheckStatusCallback] needs it.
type SentCallback struct {
	Mode             uint8         // how it was signed or tampered with
	URL, Body        string        // the callback URL given to the parser, and the body sent
	Signature, Nonce string        // the signature header sent, and the nonce header (with Rules.Nonce)
	Valid            bool          // the signature header holds the right signature of what was sent
	Refusal          string        // when not "": a part of the ErrBadSignature message it must be refused with, whatever else is wrong
	Rules            CallbackRules // the carrier's rules
	Secrets          []string      // what no error may show
}

// CheckStatusCallback checks ParseStatusCallback's result ev, err for cb: never both an event and
// an error, no secret in the error; then, in this order, the refusal cb.Refusal asks for, or
// cb.Rules.Missing for a missing signature (or nonce) header, both ErrBadSignature; a body that
// is not a URL-encoded form reported as such; ErrBadSignature ("does not match") unless
// cb.Valid; the error cb.Rules expect, which is not ErrBadSignature; or exactly the event they
// expect.
func CheckStatusCallback(t *testing.T, cb SentCallback, ev carriers.StatusEvent, err error) {
	t.Helper()
	if err != nil && ev != (carriers.StatusEvent{}) {
		t.Fatalf("ParseStatusCallback returned both %+v and %v", ev, err)
	}
	for _, s := range cb.Secrets {
		if err != nil && s != "" && strings.Contains(err.Error(), s) {
			t.Fatalf("error %q shows a secret", err)
		}
	}
	what := fmt.Sprintf("mode %d, URL %q, body %q, signature %q", cb.Mode, cb.URL, cb.Body, cb.Signature)
	if cb.Rules.Nonce {
		what += fmt.Sprintf(", nonce %q", cb.Nonce)
	}
	refusal := cb.Refusal
	if refusal == "" && (cb.Signature == "" || cb.Rules.Nonce && cb.Nonce == "") {
		refusal = cb.Rules.Missing
	}
	form, parseErr := url.ParseQuery(cb.Body)
	switch wantEv, wantErr := cb.Rules.Expect(form); {
	case refusal != "":
		if !errors.Is(err, carriers.ErrBadSignature) || !strings.Contains(err.Error(), refusal) {
			t.Fatalf("%s: got %v, want ErrBadSignature saying %q", what, err, refusal)
		}
	case parseErr != nil:
		if err == nil || errors.Is(err, carriers.ErrBadSignature) || !strings.Contains(err.Error(), "not a valid URL-encoded form") {
			t.Fatalf("%s: got %v, want the malformed body reported", what, err)
		}
	case !cb.Valid:
		if !errors.Is(err, carriers.ErrBadSignature) || !strings.Contains(err.Error(), "does not match") {
			t.Fatalf("%s: got %+v, %v; want ErrBadSignature", what, ev, err)
		}
	case wantErr != "":
		if err == nil || errors.Is(err, carriers.ErrBadSignature) || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("%s: got %+v, %v; want an error saying %q", what, ev, err, wantErr)
		}
	default:
		if err != nil || ev != wantEv {
			t.Fatalf("%s: got %+v, %v; want %+v", what, ev, err, wantEv)
		}
	}
}
