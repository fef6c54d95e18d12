package carriers_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/switchboard-dev/switchboard/carriers"
	"github.com/switchboard-dev/switchboard/carriers/carriertest"
)

// fuzzSpecs cover every kind of credential field: required and optional, secret and not, with
// and without a pattern. Their patterns survive disguise (below).
var fuzzSpecs = []carriers.FieldSpec{
	{Name: "user_id", Label: "User ID", Required: true, Pattern: `^U[0-9A-F]{4,12}$`, Example: "U0A1B"},
	{Name: "password", Label: "Password", Secret: true, Required: true, Example: "hunter22"},
	{Name: "region", Label: "Region", Pattern: `^[a-z]{2}[0-9]$`, Example: "eu1"},
	{Name: "api_secret", Label: "API Secret", Secret: true, Pattern: `^[A-Za-z0-9]+$`, Example: "s3cr3t"},
}

// fuzzPatterns holds fuzzSpecs' patterns, compiled.
var fuzzPatterns = func() map[string]*regexp.Regexp {
	m := map[string]*regexp.Regexp{}
	for _, s := range fuzzSpecs {
		if s.Pattern != "" {
			m[s.Pattern] = regexp.MustCompile(s.Pattern)
		}
	}
	return m
}()

// entry is one top-level key of a JSON object, in document order.
type entry struct {
	key   string
	value json.RawMessage
}

// entries splits a valid JSON object into its keys and values, in order and with repeats.
func entries(doc []byte) ([]entry, bool) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	var out []entry
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		out = append(out, entry{tok.(string), v})
	}
	return out, true
}

// keepFor is how many characters disguise keeps of the values under key: none of a secret's.
func keepFor(key string) int {
	for _, s := range fuzzSpecs {
		if s.Name == key && s.Secret {
			return 0
		}
	}
	return 3
}

// disguiseAll rewrites a JSON object with every string value (at any depth, not keys) disguised,
// and returns those values.
func disguiseAll(es []entry) (doc []byte, values []string) {
	keep := 0
	var walk func(x any) any
	walk = func(x any) any {
		switch x := x.(type) {
		case string:
			values = append(values, x)
			return carriertest.Disguise(x, keep)
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
		case map[string]any:
			for k := range x {
				x[k] = walk(x[k])
			}
		}
		return x
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range es {
		if i > 0 {
			b.WriteByte(',')
		}
		dec := json.NewDecoder(bytes.NewReader(e.value))
		dec.UseNumber()
		var x any
		_ = dec.Decode(&x) // e.value is valid JSON
		keep = keepFor(e.key)
		k, _ := json.Marshal(e.key)
		v, _ := json.Marshal(walk(x))
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), values
}

// decodeOracle is what DecodeFields must do with doc, from its documentation: the field of the
// first problem ("" for the document as a whole), or ok with the trimmed values.
func decodeOracle(doc []byte, specs []carriers.FieldSpec) (field string, ok bool, want map[string]string) {
	doc = bytes.TrimSpace(doc)
	if len(doc) == 0 || len(doc) > 64<<10 || !json.Valid(doc) || doc[0] != '{' {
		return "", false, nil
	}
	es, _ := entries(doc)
	values := map[string]json.RawMessage{}
	for _, e := range es {
		if _, dup := values[e.key]; dup || !slices.ContainsFunc(specs, func(s carriers.FieldSpec) bool { return s.Name == e.key }) {
			return e.key, false, nil
		}
		values[e.key] = e.value
	}
	want = map[string]string{}
	for _, s := range specs {
		v, given := values[s.Name]
		var str string
		if given && string(v) != "null" {
			if json.Unmarshal(v, &str) != nil {
				return s.Name, false, nil
			}
		}
		str = strings.TrimSpace(str)
		switch {
		case str == "" && s.Required:
			return s.Name, false, nil
		case str == "":
		case s.Pattern != "" && !fuzzPatterns[s.Pattern].MatchString(str):
			return s.Name, false, nil
		default:
			want[s.Name] = str
		}
	}
	return "", true, want
}

// FuzzDecodeFields checks DecodeFields against its documented contract: the first problem is
// reported as a *FieldError for the right key, an accepted document gives exactly its trimmed
// values, and no message changes when the submitted values are disguised, so none shows a value.
func FuzzDecodeFields(f *testing.F) {
	for _, s := range []string{
		`{"user_id":"U0A1B2","password":"Zq7SuperSecret42"}`,
		`{"user_id":" U0A1B2\n","password":"\tp w ","region":"eu1","api_secret":"Abc123def456"}`,
		`{"user_id":"U0A1B2","password":"Zq7SuperSecret42","region":null,"api_secret":"  "}`,
		`{"user_id":"U0A1B2","password":"Zq7SuperSecret42","api_secret":"Zq7Super-Secret42"}`,
		`{"user_id":"U0A1B2","password":["Zq7SuperSecret42"]}`,
		`{"user_id":"UZZZZZZZZZ","password":"x"}`,
		`{"user_id":"U0A1B2","password":"a","password":"b"}`,
		`{"userid":"U0A1B2","passwrd":"Zq7SuperSecret42"}`,
		`{"user_id":"U0A1B2","password":{"nested":"Zq7SuperSecret42"}}`,
		`{"user_id":"U0A1B2","password":"\ud800Zq7SuperSecret42\u00a0"}`,
		`[]`, `null`, ``, `{"user_id":`, `{} {}`, "\u00a0{}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		out, err := carriers.DecodeFields(doc, "Test", fuzzSpecs)
		field, ok, want := decodeOracle(doc, fuzzSpecs)
		if !ok {
			var fe *carriers.FieldError
			if !errors.As(err, &fe) || out != nil {
				t.Fatalf("DecodeFields(%q) = %v, %v; want nil and a *FieldError", doc, out, err)
			}
			if fe.Field != field {
				t.Fatalf("DecodeFields(%q): error for %q (%s), want for %q", doc, fe.Field, fe.Message, field)
			}
			if quotable := strconv.Quote(field) == `"`+field+`"`; quotable && utf8.RuneCountInString(field) <= 40 && !strings.Contains(fe.Message, field) {
				t.Fatalf("DecodeFields(%q): message %q does not name the key %q", doc, fe.Message, field)
			}
		} else if err != nil || !reflect.DeepEqual(out, want) {
			t.Fatalf("DecodeFields(%q) = %q, %v; want %q", doc, out, err, want)
		}

		trimmed := bytes.TrimSpace(doc)
		es, isObject := entries(trimmed)
		if !isObject || !json.Valid(trimmed) || len(doc) > 8<<10 { // disguised, it stays under 64 KiB
			return
		}
		masked, values := disguiseAll(es)
		out2, err2 := carriers.DecodeFields(masked, "Test", fuzzSpecs)
		if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("DecodeFields(%q) = %v\nbut with the values disguised, DecodeFields(%q) = %v", doc, err, masked, err2)
		}
		for k, v := range out {
			if want := carriertest.Disguise(v, keepFor(k)); out2[k] != want {
				t.Fatalf("DecodeFields(%q)[%q] = %q, but disguised it is %q, want %q", doc, k, v, out2[k], want)
			}
		}
		if err == nil {
			return
		}
		carriertest.CheckNotShown(t, fmt.Sprintf("DecodeFields(%q)", doc), err.Error(), err2.Error(), values)
	})
}

const secondsUnit = " is not a number of seconds"

var secondsRule = regexp.MustCompile(`^([0-9]{1,9})(?:\.([0-9]{1,9}))?$`)

// FuzzParseSeconds checks ParseSeconds against its rule (up to 9 digits, optionally a point and
// up to 9 more, around white space) with exact integer arithmetic, and checks that a rejection
// echoes at most 40 characters of the input.
func FuzzParseSeconds(f *testing.F) {
	for _, s := range []string{"0", "42", " 7 ", "0.05", "0.000000001",
		"", "-1", "1e3", "NaN", "1.", ".5", "1,5", "1234567890", "0x10", "١٢", strings.Repeat("7", 50)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := carriers.ParseSeconds(s)
		trimmed := strings.TrimSpace(s)
		m := secondsRule.FindStringSubmatch(trimmed)
		if m == nil {
			if err == nil || d != 0 {
				t.Fatalf("ParseSeconds(%q) = %v, %v; want an error", s, d, err)
			}
			head, ok := strings.CutSuffix(err.Error(), secondsUnit)
			shown, qerr := strconv.Unquote(head)
			if !ok || qerr != nil {
				t.Fatalf("ParseSeconds(%q): message %q, want the quoted input followed by %q", s, err, secondsUnit)
			}
			if r := []rune(trimmed); shown != trimmed && (len(r) <= 40 || shown != string(r[:40])+"…") {
				t.Fatalf("ParseSeconds(%q) echoes %q, want the input or its first 40 characters and …", s, shown)
			}
			return
		}
		whole, _ := strconv.ParseInt(m[1], 10, 64)
		nanos, _ := strconv.ParseInt((m[2] + "000000000")[:9], 10, 64)
		if want := time.Duration(whole)*time.Second + time.Duration(nanos); err != nil || d != want {
			t.Fatalf("ParseSeconds(%q) = %v (%d ns), %v; want %v (%d ns)", s, d, int64(d), err, want, int64(want))
		}
	})
}

// FuzzMatchHMAC checks MatchHMAC and SignHMAC: a signature is base64(HMAC-SHA256) in standard
// encoding; a header matches exactly when one of its comma-separated parts, trimmed, is the
// signature of one of the messages under a non-empty key; a signature with one byte changed, or
// made with another key, never matches.
func FuzzMatchHMAC(f *testing.F) {
	f.Add("key", "msg", "other", "", uint8(0), uint8(1))
	f.Add("my_auth_token", "https://example.com/cb.12345", "x", "bogus=, ", uint8(27), uint8(0x20))
	f.Add("", "msg", "", "x", uint8(3), uint8(0x2c))
	f.Add("k", "", "", ",,", uint8(255), uint8(0xff))
	f.Fuzz(func(t *testing.T, key, msg, other, header string, pos, xor uint8) {
		m := hmac.New(sha256.New, []byte(key))
		m.Write([]byte(msg))
		sig := base64.StdEncoding.EncodeToString(m.Sum(nil))
		if got := carriers.SignHMAC(sha256.New, key, msg); got != sig {
			t.Fatalf("SignHMAC(%q, %q) = %q, want %q", key, msg, got, sig)
		}
		otherSig := carriers.SignHMAC(sha256.New, key, other)

		if got := carriers.MatchHMAC(sha256.New, key, sig, msg); got != (key != "") {
			t.Fatalf("MatchHMAC(key %q, its own signature of %q) = %v", key, msg, got)
		}
		if got := carriers.MatchHMAC(sha256.New, key, header+", "+sig+" ", other, msg); got != (key != "") {
			t.Fatalf("MatchHMAC(key %q, %q) = %v, want a match on the second message", key, header+", "+sig+" ", got)
		}
		mutated := []byte(sig)
		mutated[int(pos)%len(mutated)] ^= max(xor, 1)
		if carriers.MatchHMAC(sha256.New, key, string(mutated), msg) {
			t.Fatalf("MatchHMAC accepted %q, the signature %q with one byte changed", mutated, sig)
		}
		if carriers.MatchHMAC(sha256.New, key+"x", sig, msg) {
			t.Fatalf("MatchHMAC accepted a signature made with another key")
		}
		want := false
		for _, part := range strings.Split(header, ",") {
			part = strings.TrimSpace(part)
			want = want || (key != "" && (part == sig || part == otherSig))
		}
		if got := carriers.MatchHMAC(sha256.New, key, header, msg, other); got != want {
			t.Fatalf("MatchHMAC(key %q, header %q, %q, %q) = %v, want %v", key, header, msg, other, got, want)
		}
	})
}

const formType = "application/x-www-form-urlencoded"

// FuzzReadCallbackForm checks ReadCallbackForm: it accepts exactly a POST with no Content-Type or
// a form one, a body of at most 64 KiB (or none) that parses as a URL-encoded form, and then
// returns the body unchanged and its parameters; a rejection returns nothing and one of its fixed
// messages, which never show the body.
func FuzzReadCallbackForm(f *testing.F) {
	f.Add("POST", formType, []byte("CallSid=CA1&CallStatus=completed"), false, uint8(0))
	f.Add("POST", formType+"; charset=utf-8", []byte("a=1&b=%2B2&a=3"), false, uint8(0))
	f.Add("POST", "", []byte(""), true, uint8(0))
	f.Add("POST", "Application/X-WWW-Form-Urlencoded", []byte("x"), false, uint8(0))
	f.Add("POST", "application/json", []byte(`{"a":1}`), false, uint8(0))
	f.Add("POST", formType+";;", []byte("a=1"), false, uint8(0))
	f.Add("GET", "", []byte("a=1"), false, uint8(0))
	f.Add("POST", "", []byte("a=%zz"), false, uint8(0))
	f.Add("POST", "", []byte("a=1;b=2"), false, uint8(0))
	f.Add("POST", "", []byte("a="), false, uint8(253))
	f.Add("POST", "", []byte("a="), false, uint8(254))
	f.Add("POST", "", []byte("a="), false, uint8(255))
	f.Fuzz(func(t *testing.T, method, contentType string, body []byte, noBody bool, size uint8) {
		if size >= 253 && !noBody {
			// Pad the body to 64 KiB - 1, 64 KiB or 64 KiB + 1 bytes (rarely: it is slow).
			body = append(body, bytes.Repeat([]byte("a"), max(64<<10+int(size)-254-len(body), 0))...)
		}
		r := &http.Request{Method: method, Header: http.Header{}}
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		if !noBody {
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		raw, form, err := carriers.ReadCallbackForm(r)

		mt, _, ctErr := mime.ParseMediaType(contentType)
		parsed, parseErr := url.ParseQuery(string(body))
		var want string // the error expected, "" for none
		switch {
		case method != http.MethodPost:
			shown := method // at most 40 characters of it: the method is the sender's text
			if r := []rune(method); len(r) > 40 {
				shown = string(r[:40]) + "…"
			}
			want = "status callbacks must be POST requests, not " + shown
		case contentType != "" && (ctErr != nil || mt != formType):
			want = "a status callback's body must be " + formType
		case noBody:
			if err != nil || raw != nil || form == nil || len(form) != 0 {
				t.Fatalf("no body: ReadCallbackForm = %q, %v, %v; want nil, an empty form, nil", raw, form, err)
			}
			return
		case len(body) > 64<<10:
			want = "the status callback is larger than 64 KiB"
		case parseErr != nil:
			want = "the status callback's body is not a valid URL-encoded form"
		}
		if want != "" {
			if err == nil || err.Error() != want || raw != nil || form != nil {
				t.Fatalf("ReadCallbackForm(%s, %q, %q) = %q, %v, %v; want nil, nil and the error %q", method, contentType, body, raw, form, err, want)
			}
			return
		}
		if err != nil || !bytes.Equal(raw, body) || !reflect.DeepEqual(form, parsed) {
			t.Fatalf("ReadCallbackForm(%q) = %q, %v, %v; want the body and %v", body, raw, form, err, parsed)
		}
	})
}
