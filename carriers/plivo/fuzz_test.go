package plivo_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/switchboard-dev/switchboard/carriers"
	"github.com/switchboard-dev/switchboard/carriers/carriertest"
	"github.com/switchboard-dev/switchboard/carriers/plivo"
)

// credentialKeys are the keys of a Plivo credentials document, in the order of the fuzz
// arguments; auth_token is the secret.
var credentialKeys = []string{"auth_id", "auth_token"}

// authIDRule is the documented Auth ID format: "MA" or "SA" then 18 upper-case letters or digits.
var authIDRule = regexp.MustCompile(`^(MA|SA)[A-Z0-9]{18}$`)

// wellFormed reports whether the documented rules accept the document credentialsDoc builds: both
// keys given once, as strings, with no unknown key; the Auth ID, trimmed, in its format; the token,
// trimmed, not empty.
func wellFormed(authID, authToken string, layout uint16) bool {
	return layout&0x0f == 0x05 && layout&0x300 == 0 &&
		authIDRule.MatchString(strings.TrimSpace(carriertest.Sent(authID))) && strings.TrimSpace(carriertest.Sent(authToken)) != ""
}

// FuzzCredentialFields builds credentials documents from fuzzed values and checks ParseCredentials
// exactly: it fails exactly when the shared decoder does, with the decoder's error; accepted
// credentials hold the submitted values trimmed and survive a JSON round trip; and neither an
// error nor the credentials' String, GoString, LogValue, Hint or fmt output change when the
// values are disguised, so none of them shows a value.
func FuzzCredentialFields(f *testing.F) {
	f.Add(authID, token, uint16(0x05))                   // valid
	f.Add(subID, " x ", uint16(0x05))                    // subaccount, short token
	f.Add(" "+authID+"\n", "\t"+token+" ", uint16(0x05)) // white space
	f.Add(authID, "p@ss wörd!", uint16(0x05))
	f.Add(authID, "ZmFrZS1wbGl2by1hdXRoLXRva2Vu==", uint16(0x05))    // any token
	f.Add(strings.ToLower(authID), "Zq7SuperSecret42", uint16(0x05)) // lower-case Auth ID
	f.Add("MA_ABCDEFGHIJKLMNOPQ", token, uint16(0x05))               // Vobiz-style Auth ID
	f.Add(authID, "   ", uint16(0x05))                               // blank token
	f.Add(authID, token, uint16(0x09))                               // null token
	f.Add(authID, "Zq7SuperSecret42", uint16(0x0d))                  // token in an array
	f.Add(authID, "Zq7SuperSecret42", uint16(0x201))                 // token under an unknown key
	f.Add(authID, token, uint16(0x105))                              // repeated key
	f.Add(authID, "Zq7SuperSecret42", uint16(0x605))                 // reversed, unknown key
	f.Add(authID, "redacted", uint16(0x05))                          // a token that is also a word in String
	f.Fuzz(func(t *testing.T, authID, authToken string, layout uint16) {
		values := []string{authID, authToken}
		doc := carriertest.CredentialsDoc(credentialKeys, values, layout)
		got, err := parse(string(doc))
		if want := wellFormed(authID, authToken, layout); (err == nil) != want {
			t.Fatalf("ParseCredentials(%s) = %v, %v; the documented rules say accepted = %v", doc, got, err, want)
		}

		allDoc := carriertest.CredentialsDoc(credentialKeys, []string{carriertest.Disguise(authID, 3), carriertest.Disguise(authToken, 0)}, layout)
		_, err2 := parse(string(allDoc))
		if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("ParseCredentials(%s): %v\nbut with the values disguised, ParseCredentials(%s): %v", doc, err, allDoc, err2)
		}

		m, decodeErr := carriers.DecodeFields(doc, "Plivo", plivo.Carrier{}.Info().CredentialFields)
		if decodeErr != nil {
			var fe, want *carriers.FieldError
			errors.As(decodeErr, &want)
			if !errors.As(err, &fe) || *fe != *want || got != nil {
				t.Fatalf("ParseCredentials(%s) = %v, %v; want the shared decoder's error %v", doc, got, err, decodeErr)
			}
			for _, v := range values {
				v = strings.TrimSpace(carriertest.Sent(v))
				if len(v) >= 8 && strings.Contains(err.Error(), v) && !strings.Contains(err2.Error(), v) {
					t.Fatalf("ParseCredentials(%s): message %q shows the submitted value %q", doc, err, v)
				}
			}
			return
		}

		want := plivo.Credentials{AuthID: strings.TrimSpace(carriertest.Sent(authID)), AuthToken: strings.TrimSpace(carriertest.Sent(authToken))}
		if c, ok := got.(plivo.Credentials); err != nil || !ok || c != want || m["auth_id"] != want.AuthID {
			t.Fatalf("ParseCredentials(%s) = %#v, %v; want the trimmed values %q %q", doc, got, err, want.AuthID, want.AuthToken)
		}
		sealed, _ := json.Marshal(got)
		if again, err := parse(string(sealed)); err != nil || again != got {
			t.Fatalf("ParseCredentials(json.Marshal(credentials) = %s) = %v; want the same credentials", sealed, err)
		}
		c2, err := parse(string(carriertest.CredentialsDoc(credentialKeys, []string{authID, carriertest.Disguise(authToken, 0)}, layout)))
		if err != nil {
			t.Fatalf("with the token disguised: %v", err)
		}
		out, out2 := carriertest.Shown(got), carriertest.Shown(c2)
		if !slices.Equal(out, out2) {
			t.Fatalf("the credentials show %q, but with another token %q: they show the token", out, out2)
		}
		for i := range out {
			if len(want.AuthToken) >= 8 && strings.Contains(out[i], want.AuthToken) && !strings.Contains(out2[i], want.AuthToken) {
				t.Fatalf("the credentials show the token %q: %q", want.AuthToken, out[i])
			}
		}
	})
}

// concat is the body's part of the signed text: each parameter's name then its value, sorted by
// name (a repeated name's values sorted too), with no separators.
func concat(form url.Values) string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(form)) {
		for _, v := range slices.Sorted(slices.Values(form[name])) {
			b.WriteString(name + v)
		}
	}
	return b.String()
}

// callbackCases are callback URLs with, written out by hand, the part of the signed text before
// "?" and the query as Plivo's SDKs write it (pairs sorted; plivo-go keeps values encoded, which
// is first, plivo-python decodes them).
var callbackCases = []struct {
	url, base string
	queries   []string
}{
	{"https://switchboard.example/webhooks/plivo/prov_01J?k=v&x=1", "https://switchboard.example/webhooks/plivo/prov_01J", []string{"k=v&x=1"}},
	{"https://switchboard.example/cb", "https://switchboard.example/cb", []string{""}},
	{"http://127.0.0.1:8080/cb?z=2&a=1", "http://127.0.0.1:8080/cb", []string{"a=1&z=2"}},
	{"https://switchboard.example/a%20b?t=x%2Fy", "https://switchboard.example/a%20b", []string{"t=x%2Fy", "t=x/y"}},
}

// signedTexts are the texts (before "." and the nonce) that Plivo may sign for a callback to
// case i carrying form: the URL part, "?" if there is a query or a body, the query, "." if there
// are both, then the body.
func signedTexts(i int, form url.Values) []string {
	c, params := callbackCases[i], concat(form)
	var out []string
	for _, q := range c.queries {
		s := c.base
		if q != "" || params != "" {
			s += "?" + q
		}
		if q != "" && params != "" {
			s += "."
		}
		out = append(out, s+params)
	}
	return out
}

// statuses are the CallStatus words of Plivo-style callbacks (any case, trimmed).
var statuses = map[string]carriers.CallStatus{
	"queued": carriers.StatusQueued, "ringing": carriers.StatusRinging, "in-progress": carriers.StatusInProgress,
	"completed": carriers.StatusCompleted, "busy": carriers.StatusBusy, "failed": carriers.StatusFailed,
	"timeout": carriers.StatusNoAnswer, "no-answer": carriers.StatusNoAnswer,
	"cancel": carriers.StatusCanceled, "canceled": carriers.StatusCanceled, "cancelled": carriers.StatusCanceled,
}

var terminal = map[carriers.CallStatus]bool{carriers.StatusCompleted: true, carriers.StatusBusy: true,
	carriers.StatusFailed: true, carriers.StatusNoAnswer: true, carriers.StatusCanceled: true}

// firstGiven is the first of a, b that is not blank, trimmed.
func firstGiven(a, b string) string {
	if a = strings.TrimSpace(a); a != "" {
		return a
	}
	return strings.TrimSpace(b)
}

// expectEvent is what a validly signed callback with form must give: the event, or (a part of)
// the error that says what is wrong with it.
func expectEvent(form url.Values) (carriers.StatusEvent, string) {
	ev := carriers.StatusEvent{ProviderCallID: firstGiven(form.Get("RequestUUID"), form.Get("CallUUID"))}
	if ev.ProviderCallID == "" {
		return carriers.StatusEvent{}, "has neither RequestUUID nor CallUUID"
	}
	word := strings.TrimSpace(form.Get("CallStatus"))
	st, ok := statuses[strings.ToLower(word)]
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
	if d := strings.TrimSpace(form.Get("Duration")); d != "" {
		var err error
		if ev.Duration, err = carriers.ParseSeconds(d); err != nil {
			return carriers.StatusEvent{}, "Duration"
		}
	}
	ev.Reason = firstGiven(form.Get("HangupCause"), form.Get("HangupCauseName"))
	return ev, ""
}

// Modes of FuzzStatusCallback: how the callback is signed or tampered with.
const (
	modeSigned      = iota // signed as plivo-go signs it
	modeOtherQuery         // signed as plivo-python signs it (query values decoded)
	modeSeveral            // the right signature among others, with white space
	modeWrongToken         // signed with another auth token
	modeFlippedSig         // one byte of the right signature changed
	modeMutatedBody        // signed, then one byte of the body changed
	modeRawHeader          // the fuzzer's own X-Plivo-Signature-V3
	modeOtherNonce         // the nonce header differs from the signed nonce
	modeOtherURL           // signed for another path
	modes
)

// FuzzStatusCallback builds status callbacks from fuzzed parameters and nonces, signs some
// correctly and some wrongly, and checks ParseStatusCallback against Plivo's V3 scheme: a
// callback is accepted only when X-Plivo-Signature-V3 holds base64(HMAC-SHA256(auth token,
// signed text + "." + the X-Plivo-Signature-V3-Nonce header)) for the form it carries, and then
// it gives exactly the call id, status, duration and hangup cause sent (or says which of them is
// malformed). A body with one byte changed is rejected unless its signed text is unchanged. With
// a fuzzed callback URL (urlCase past the list), the texts come from SignedTextV3 and only the
// modes whose outcome does not depend on them are used.
func FuzzStatusCallback(f *testing.F) {
	creds, err := parse(validDoc)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("c-1", "completed", "42", "NORMAL_CLEARING", "RequestUUID", requestUUID, "n0nce", "", uint8(0), uint8(modeSigned), uint16(0), uint8(0))
	f.Add("c-1", "ringing", "", "", "", "", "12345", "", uint8(1), uint8(modeSigned), uint16(0), uint8(0))
	f.Add("c-1", "timeout", "0", "NO_ANSWER", "BillDuration", "0", "n", "", uint8(3), uint8(modeOtherQuery), uint16(0), uint8(0))
	f.Add("c-1", "Busy ", "", "", "HangupCauseName", "User Busy", "n", "", uint8(2), uint8(modeSeveral), uint16(0), uint8(0))
	f.Add("c-1", "failed", "", "CALL_REJECTED", "HangupCauseName", "Rejected", "n", "", uint8(0), uint8(modeSigned), uint16(0), uint8(0))
	f.Add("c-1", "completed", "", "", "", "", "n", "", uint8(0), uint8(modeWrongToken), uint16(0), uint8(0))
	f.Add("c-1", "completed", "", "", "", "", "n", "", uint8(0), uint8(modeFlippedSig), uint16(43), uint8(0x20))
	f.Add("c-1", "completed", "42", "", "", "", "n", "", uint8(1), uint8(modeMutatedBody), uint16(9), uint8(1))
	f.Add("c-1", "cancelled", "", "", "", "", "n", "x=, ,", uint8(0), uint8(modeRawHeader), uint16(0), uint8(0))
	f.Add("c-1", "completed", "", "", "", "", "n", "", uint8(0), uint8(modeOtherNonce), uint16(0), uint8(0))
	f.Add("c-1", "completed", "", "", "", "", "n", "", uint8(2), uint8(modeOtherURL), uint16(0), uint8(0))
	f.Add("c-1", "completed", "", "", "", "", "", "", uint8(0), uint8(modeSigned), uint16(0), uint8(0))
	f.Add("", "busy", "", "", "", "", "n", "", uint8(0), uint8(modeSigned), uint16(0), uint8(0))
	f.Add("c-1", "answered", "", "", "", "", "n", "", uint8(0), uint8(modeSigned), uint16(0), uint8(0))
	f.Add("c-1", "completed", "x", "", "", "", "n", "", uint8(0), uint8(modeSigned), uint16(0), uint8(0))
	f.Add("", "", "", "", "", "", "n", "", uint8(1), uint8(modeSigned), uint16(0), uint8(0))
	f.Add("c-1", "completed", "", "", "", "", "n", "https://h/p?b=2&a=%2F", uint8(4), uint8(modeSigned), uint16(0), uint8(0))
	f.Add("c-1", "completed", "", "", "", "", "n", "::", uint8(4), uint8(modeSigned), uint16(0), uint8(0))
	f.Fuzz(func(t *testing.T, callID, status, duration, cause, extraName, extraValue, nonce, raw string, urlCase, mode uint8, pos uint16, xor uint8) {
		form := url.Values{}
		for _, kv := range [][2]string{{"CallUUID", callID}, {"CallStatus", status}, {"Duration", duration}, {"HangupCause", cause}} {
			if kv[1] != "" {
				form.Set(kv[0], kv[1])
			}
		}
		if extraName != "" {
			form.Set(extraName, extraValue)
		}
		body := form.Encode()

		i := int(urlCase) % (len(callbackCases) + 1)
		known := i < len(callbackCases)
		texts, cbURL := func(form url.Values) []string { return plivo.SignedTextV3(raw, form) }, raw
		if known {
			texts, cbURL = func(form url.Values) []string { return signedTexts(i, form) }, callbackCases[i].url
		}
		m := mode % modes
		if !known && m != modeSigned && m != modeWrongToken && m != modeFlippedSig && m != modeOtherNonce {
			m = modeSigned
		}
		all := append(texts(form), raw) // raw signs something when a fuzzed URL gives no text
		good := signV3(token, all[0]+"."+nonce)
		header, headerNonce, received := good, nonce, body
		switch m {
		case modeOtherQuery:
			header = signV3(token, all[len(all)-2]+"."+nonce)
		case modeSeveral:
			header = "bogus=, " + good + " ,"
		case modeWrongToken:
			header = signV3("another-token", all[0]+"."+nonce)
		case modeFlippedSig:
			b := []byte(good)
			b[int(pos)%len(b)] ^= max(xor, 1)
			header = string(b)
		case modeMutatedBody:
			b := []byte(body)
			if len(b) == 0 {
				b = []byte{max(xor, 1)}
			} else {
				b[int(pos)%len(b)] ^= max(xor, 1)
			}
			received = string(b)
		case modeRawHeader:
			header = raw
		case modeOtherNonce:
			headerNonce = nonce + "1"
		case modeOtherURL:
			header = signV3(token, strings.Replace(all[0], callbackCases[i].base, callbackCases[i].base+"x", 1)+"."+nonce)
		}
		req := callback(header, headerNonce, form)
		if received != body {
			req.Body, req.ContentLength = io.NopCloser(strings.NewReader(received)), int64(len(received))
		}
		ev, err := plivo.Carrier{}.ParseStatusCallback(req, cbURL, creds)

		if err != nil && ev != (carriers.StatusEvent{}) {
			t.Fatalf("ParseStatusCallback returned both %+v and %v", ev, err)
		}
		if err != nil && strings.Contains(err.Error(), token) {
			t.Fatalf("error %q shows the auth token", err)
		}
		got, parseErr := url.ParseQuery(received)
		valid := false // does the header hold the right signature of what was received?
		for _, part := range strings.Split(header, ",") {
			for _, text := range texts(got) {
				valid = valid || strings.TrimSpace(part) == signV3(token, text+"."+headerNonce)
			}
		}
		if known && nonce != "" && (m <= modeSeveral && !valid || (m == modeWrongToken || m == modeFlippedSig || m == modeOtherNonce || m == modeOtherURL) && valid) {
			t.Fatalf("test bug: mode %d gives valid = %v", m, valid)
		}

		what := fmt.Sprintf("mode %d, URL %q, body %q, signature %q, nonce %q", m, cbURL, received, header, headerNonce)
		switch wantEv, wantErr := expectEvent(got); {
		case header == "" || headerNonce == "":
			if !errors.Is(err, carriers.ErrBadSignature) || !strings.Contains(err.Error(), "headers are required") {
				t.Fatalf("%s: got %v, want ErrBadSignature for the missing header", what, err)
			}
		case parseErr != nil:
			if err == nil || errors.Is(err, carriers.ErrBadSignature) || !strings.Contains(err.Error(), "not a valid URL-encoded form") {
				t.Fatalf("%s: got %v, want the malformed body reported", what, err)
			}
		case !valid:
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
	})
}

// FuzzSignedTextV3 checks SignedTextV3 for any URL and form: no text for a URL that does not
// parse; otherwise one text, or two different ones when the query's encoded and decoded forms
// differ, each the URL's scheme://host/path, then (when there is a query or a body) "?", and
// ending with the body's sorted parameters; exactly base + "?" + body without a query; and the
// same texts whatever the order of the query's pairs, and with a fragment added.
func FuzzSignedTextV3(f *testing.F) {
	f.Add("https://example.com/answer?b=2&a=1", "", "", "", "")
	f.Add("https://example.com/a?t=x%2Fy", "K", "v", "", "")
	f.Add("https://switchboard.example/webhooks/plivo/prov_01J?k=v&x=1", "CallStatus", "completed", "CallUUID", "c-1")
	f.Add("http://[::1]:8080/p%20q?a=1&a=0&b", "a", "2", "a", "1")
	f.Add("https://h/p?x=1;y=2&z=%zz&&=&w==", "", "", "", "")
	f.Add("https://h/p?", "x", "", "", "")
	f.Add("::", "x", "y", "", "")
	f.Add("/relative?q=1", "x", "y", "", "")
	f.Fuzz(func(t *testing.T, rawURL, name1, value1, name2, value2 string) {
		form := url.Values{}
		if name1 != "" {
			form.Add(name1, value1)
		}
		if name2 != "" {
			form.Add(name2, value2)
		}
		texts := plivo.SignedTextV3(rawURL, form)
		u, err := url.Parse(rawURL)
		if err != nil {
			if texts != nil {
				t.Fatalf("SignedTextV3(%q) = %q, want nothing for a URL that does not parse", rawURL, texts)
			}
			return
		}
		if len(texts) == 0 || len(texts) > 2 || (len(texts) == 2 && texts[0] == texts[1]) {
			t.Fatalf("SignedTextV3(%q, %v) = %q, want one text or two different ones", rawURL, form, texts)
		}
		base, params := u.Scheme+"://"+u.Host+u.EscapedPath(), concat(form)
		for _, s := range texts {
			rest, ok := strings.CutPrefix(s, base)
			if !ok || !strings.HasSuffix(rest, params) || (rest != "" && rest[0] != '?') {
				t.Fatalf("SignedTextV3(%q, %v) = %q, want each to be %q, then ?…, ending with %q", rawURL, form, texts, base, params)
			}
			if want := base + "?" + params; u.RawQuery == "" && params != "" && s != want {
				t.Fatalf("SignedTextV3(%q, %v) = %q, want %q", rawURL, form, texts, want)
			}
			if u.RawQuery == "" && params == "" && s != base {
				t.Fatalf("SignedTextV3(%q) = %q, want %q", rawURL, texts, base)
			}
		}
		if u.RawQuery == "" || strings.Contains(rawURL, "#") {
			return
		}
		pairs := strings.Split(u.RawQuery, "&")
		slices.Reverse(pairs)
		other := strings.Replace(rawURL, "?"+u.RawQuery, "?"+strings.Join(pairs, "&"), 1) + "#frag"
		if again := plivo.SignedTextV3(other, form); !slices.Equal(again, texts) {
			t.Fatalf("SignedTextV3(%q) = %q, but SignedTextV3(%q) = %q: want the same texts", rawURL, texts, other, again)
		}
	})
}
