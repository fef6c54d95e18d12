package twilio_test

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
	"github.com/switchboard-dev/switchboard/carriers/twilio"
)

// credentialKeys are the keys of a Twilio credentials document, in the order of the fuzz
// arguments, and which of them are secret.
var (
	credentialKeys = []string{"account_sid", "auth_token", "api_key_sid", "api_key_secret"}
	secretKeys     = map[string]bool{"auth_token": true, "api_key_secret": true}
)

// The documented formats of the credential fields.
var (
	accountSIDRule = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	apiKeySIDRule  = regexp.MustCompile(`^SK[0-9a-fA-F]{32}$`)
	secretRule     = regexp.MustCompile(`^[A-Za-z0-9]+$`) // auth token and API key secret
)

// wellFormed reports whether the documented rules accept the document credentialsDoc builds: no
// unknown or repeated key, every value given as a string or null, each given value (trimmed) in
// its format, account_sid given, and then either auth_token alone or api_key_sid with
// api_key_secret.
func wellFormed(values []string, layout uint16) bool {
	if layout&0x300 != 0 {
		return false
	}
	v := make([]string, len(values))
	for i := range values {
		switch layout >> (2 * i) & 3 {
		case 1:
			v[i] = strings.TrimSpace(carriertest.Sent(values[i]))
		case 3:
			return false
		}
	}
	sid, tok, keySID, keySecret := v[0], v[1], v[2], v[3]
	if !accountSIDRule.MatchString(sid) || (tok != "" && !secretRule.MatchString(tok)) ||
		(keySID != "" && !apiKeySIDRule.MatchString(keySID)) || (keySecret != "" && !secretRule.MatchString(keySecret)) {
		return false
	}
	return (tok != "" && keySID == "" && keySecret == "") || (tok == "" && keySID != "" && keySecret != "")
}

// FuzzCredentialFields builds credentials documents from fuzzed values and checks ParseCredentials
// exactly: a document the shared decoder rejects gives the decoder's error; otherwise the
// documented shapes (auth_token, or api_key_sid with api_key_secret, not both) decide; accepted
// credentials hold the submitted values trimmed and survive a JSON round trip; and neither an
// error nor the credentials' String, GoString, LogValue, Hint or fmt output change when the
// values are disguised, so none of them shows a value.
func FuzzCredentialFields(f *testing.F) {
	f.Add(sid, token, "", "", uint16(0x05))                     // auth token
	f.Add(sid, "", keySID, keySecret, uint16(0x51))             // API key
	f.Add(sid, token, keySID, keySecret, uint16(0x55))          // both shapes
	f.Add(sid, token, keySID, "", uint16(0x15))                 // token and key SID
	f.Add(sid, "", keySID, "", uint16(0x11))                    // key SID without secret
	f.Add(sid, "", "", keySecret, uint16(0x41))                 // secret without key SID
	f.Add(sid, token, "", "", uint16(0xa5))                     // null API-key fields
	f.Add(" "+sid+"\n", "\t"+token+" ", "  ", "", uint16(0x15)) // white space
	f.Add(sid, "Zq7Super-Secret42", "", "", uint16(0x05))       // token not alphanumeric
	f.Add(sid, "Zq7SuperSecret42", "", "", uint16(0x0d))        // token in an array
	f.Add("AC"+token, token, "", "", uint16(0x05))              // SID of the right length, wrong letters
	f.Add(sid, token, "", "Zq7SuperSecret42", uint16(0x205))    // unknown key
	f.Add(sid, token, "", "", uint16(0x105))                    // repeated key
	f.Add(sid, "", keySID, "Zq7SuperSecret42", uint16(0x651))   // reversed, unknown key
	f.Add(sid, "redacted", "", "", uint16(0x05))                // a token that is also a word in String
	f.Add(strings.ToUpper(sid[:2])+sid[2:], "\u00a0Abc123\u2003", "", "", uint16(0x05))
	f.Fuzz(func(t *testing.T, accountSID, authToken, apiKeySID, apiKeySecret string, layout uint16) {
		values := []string{accountSID, authToken, apiKeySID, apiKeySecret}
		doc := carriertest.CredentialsDoc(credentialKeys, values, layout)
		got, err := parse(string(doc))
		if want := wellFormed(values, layout); (err == nil) != want {
			t.Fatalf("ParseCredentials(%s) = %v, %v; the documented rules say accepted = %v", doc, got, err, want)
		}

		// Disguised: every value, or only the secrets.
		all, secrets := slices.Clone(values), slices.Clone(values)
		for i, k := range credentialKeys {
			all[i] = carriertest.Disguise(values[i], 3)
			if secretKeys[k] {
				all[i] = carriertest.Disguise(values[i], 0)
				secrets[i] = all[i]
			}
		}
		allDoc := carriertest.CredentialsDoc(credentialKeys, all, layout)
		_, err2 := parse(string(allDoc))
		if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("ParseCredentials(%s): %v\nbut with the values disguised, ParseCredentials(%s): %v", doc, err, allDoc, err2)
		}

		m, decodeErr := carriers.DecodeFields(doc, "Twilio", twilio.Carrier{}.Info().CredentialFields)
		if decodeErr != nil {
			var fe, want *carriers.FieldError
			errors.As(decodeErr, &want)
			if !errors.As(err, &fe) || *fe != *want || got != nil {
				t.Fatalf("ParseCredentials(%s) = %v, %v; want the shared decoder's error %v", doc, got, err, decodeErr)
			}
			checkNotShown(t, doc, err.Error(), err2.Error(), values)
			return
		}

		hasToken, hasSID, hasSecret := m["auth_token"] != "", m["api_key_sid"] != "", m["api_key_secret"] != ""
		field := "" // the key a shape error is about
		switch {
		case hasToken && hasSID && hasSecret:
			field = "auth_token"
		case hasToken && hasSecret:
			field = "api_key_secret"
		case hasToken && hasSID:
			field = "api_key_sid"
		case hasSID && !hasSecret:
			field = "api_key_secret"
		case hasSecret && !hasSID:
			field = "api_key_sid"
		case !hasToken && !hasSID:
			field = "auth_token"
		}
		if field != "" {
			var fe *carriers.FieldError
			if !errors.As(err, &fe) || fe.Field != field || got != nil ||
				!strings.Contains(fe.Message, "give either auth_token, or api_key_sid together with api_key_secret (not both)") {
				t.Fatalf("ParseCredentials(%s) = %v, %v; want a *FieldError for %q that explains the two shapes", doc, got, err, field)
			}
			checkNotShown(t, doc, err.Error(), err2.Error(), values)
			return
		}

		if err != nil {
			t.Fatalf("ParseCredentials(%s) = %v, want success", doc, err)
		}
		want := twilio.Credentials{}
		for i, p := range []*string{&want.AccountSID, &want.AuthToken, &want.APIKeySID, &want.APIKeySecret} {
			if layout>>(2*i)&3 == 1 {
				*p = strings.TrimSpace(carriertest.Sent(values[i]))
			}
		}
		c, ok := got.(twilio.Credentials)
		if !ok || c != want {
			t.Fatalf("ParseCredentials(%s) = %#v (%T), want the trimmed values %q %q %q %q", doc, got, got,
				want.AccountSID, want.AuthToken, want.APIKeySID, want.APIKeySecret)
		}
		sealed, _ := json.Marshal(c)
		if again, err := parse(string(sealed)); err != nil || again != got {
			t.Fatalf("ParseCredentials(json.Marshal(credentials) = %s) = %v; want the same credentials", sealed, err)
		}
		c2, err := parse(string(carriertest.CredentialsDoc(credentialKeys, secrets, layout)))
		if err != nil {
			t.Fatalf("with the secrets disguised: %v", err)
		}
		out, out2 := carriertest.Shown(c), carriertest.Shown(c2)
		if !slices.Equal(out, out2) {
			t.Fatalf("the credentials show %q, but with other secrets %q: they show a secret", out, out2)
		}
		for _, s := range []string{want.AuthToken, want.APIKeySecret} {
			for i := range out {
				if len(s) >= 8 && strings.Contains(out[i], s) && !strings.Contains(out2[i], s) {
					t.Fatalf("the credentials show the secret %q: %q", s, out[i])
				}
			}
		}
	})
}

// checkNotShown fails if msg (for doc) shows a submitted value of at least 8 characters that
// msg2 (for the disguised document) does not, i.e. one that is not just part of the sentence.
func checkNotShown(t *testing.T, doc []byte, msg, msg2 string, values []string) {
	t.Helper()
	for _, v := range values {
		v = strings.TrimSpace(carriertest.Sent(v))
		if len(v) >= 8 && strings.Contains(msg, v) && !strings.Contains(msg2, v) {
			t.Fatalf("ParseCredentials(%s): message %q shows the submitted value %q", doc, msg, v)
		}
	}
}

// callbackCases are callback URLs and, written out by hand, the URLs Twilio may have signed for
// each: as given, then with its scheme's default port added or removed.
var callbackCases = []struct {
	url    string
	signed []string
}{
	{"https://switchboard.example/webhooks/twilio/prov_01J?k=v&x=1",
		[]string{"https://switchboard.example/webhooks/twilio/prov_01J?k=v&x=1", "https://switchboard.example:443/webhooks/twilio/prov_01J?k=v&x=1"}},
	{"http://localhost:80/cb", []string{"http://localhost:80/cb", "http://localhost/cb"}},
	{"https://[::1]:443/cb?call=SB1", []string{"https://[::1]:443/cb?call=SB1", "https://[::1]/cb?call=SB1"}},
	{"HTTPS://Switchboard.Example", []string{"HTTPS://Switchboard.Example", "HTTPS://Switchboard.Example:443"}},
	{"https://switchboard.example:8443/cb", []string{"https://switchboard.example:8443/cb"}},
}

// concat is the body's part of the signed text by Twilio's rule: each parameter's name then its
// value, sorted by name (a repeated name's values sorted too), with no separators.
func concat(form url.Values) string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(form)) {
		for _, v := range slices.Sorted(slices.Values(form[name])) {
			b.WriteString(name + v)
		}
	}
	return b.String()
}

// statuses are Twilio's CallStatus words and event names (any case, trimmed).
var statuses = map[string]carriers.CallStatus{
	"queued": carriers.StatusQueued, "initiated": carriers.StatusQueued, "ringing": carriers.StatusRinging,
	"in-progress": carriers.StatusInProgress, "answered": carriers.StatusInProgress,
	"completed": carriers.StatusCompleted, "busy": carriers.StatusBusy, "failed": carriers.StatusFailed,
	"no-answer": carriers.StatusNoAnswer, "canceled": carriers.StatusCanceled,
}

var terminal = map[carriers.CallStatus]bool{carriers.StatusCompleted: true, carriers.StatusBusy: true,
	carriers.StatusFailed: true, carriers.StatusNoAnswer: true, carriers.StatusCanceled: true}

// expectEvent is what a validly signed callback with form must give: the event, or (a part of)
// the error that says what is wrong with it.
func expectEvent(form url.Values) (carriers.StatusEvent, string) {
	ev := carriers.StatusEvent{ProviderCallID: strings.TrimSpace(form.Get("CallSid"))}
	if ev.ProviderCallID == "" {
		return carriers.StatusEvent{}, "has no CallSid"
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
	if d := strings.TrimSpace(form.Get("CallDuration")); d != "" {
		var err error
		if ev.Duration, err = carriers.ParseSeconds(d); err != nil {
			return carriers.StatusEvent{}, "CallDuration"
		}
	}
	if code := strings.TrimSpace(form.Get("SipResponseCode")); code != "" {
		ev.Reason = "SIP " + code
	}
	return ev, ""
}

// Modes of FuzzStatusCallback: how the callback is signed or tampered with.
const (
	modeSigned      = iota // signed for the callback URL as given
	modeOtherPort          // signed for the URL with its default port added or removed
	modeSeveral            // the right signature among others, with white space
	modeWrongToken         // signed with another auth token
	modeFlippedSig         // one byte of the right signature changed
	modeMutatedBody        // signed, then one byte of the body changed
	modeRawHeader          // the fuzzer's own X-Twilio-Signature
	modeOtherURL           // signed for another URL
	modeAPIKey             // right signature, but the provider holds an API key
	modes
)

// FuzzStatusCallback builds status callbacks from fuzzed parameters, signs some correctly and
// some wrongly, and checks ParseStatusCallback against Twilio's documented scheme: a callback is
// accepted only when X-Twilio-Signature holds base64(HMAC-SHA1(auth token, URL + sorted
// parameters)) for the form it carries, and then it gives exactly the call id, status, duration
// and SIP code sent (or says which of them is malformed). A body with one byte changed is
// rejected unless its signed text is unchanged (e.g. "a=b" and "a&b" both sign as "ab", a
// property of Twilio's scheme). With a fuzzed callback URL (urlCase past the list), only the
// outcomes that do not depend on the port variants are checked.
func FuzzStatusCallback(f *testing.F) {
	creds, err := parse(tokenDoc)
	if err != nil {
		f.Fatal(err)
	}
	apiKey, err := parse(apiKeyDoc)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(callSID, "completed", "42", "200", "To", "+14155550123", "", uint8(0), uint8(modeSigned), uint16(0), uint8(0))
	f.Add(callSID, "ringing", "", "", "", "", "", uint8(1), uint8(modeOtherPort), uint16(0), uint8(0))
	f.Add(callSID, " In-Progress ", "", "", "AccountSid", sid, "", uint8(2), uint8(modeSeveral), uint16(0), uint8(0))
	f.Add(callSID, "busy", "0.5", "486", "", "", "", uint8(3), uint8(modeWrongToken), uint16(0), uint8(0))
	f.Add(callSID, "no-answer", "0", "", "", "", "", uint8(4), uint8(modeFlippedSig), uint16(7), uint8(1))
	f.Add(callSID, "completed", "42", "", "", "", "", uint8(0), uint8(modeMutatedBody), uint16(60), uint8(2))
	f.Add(callSID, "canceled", "", "", "", "", "bogus=, ", uint8(1), uint8(modeRawHeader), uint16(0), uint8(0))
	f.Add(callSID, "failed", "", "", "", "", "", uint8(2), uint8(modeOtherURL), uint16(0), uint8(0))
	f.Add(callSID, "completed", "", "", "", "", "", uint8(0), uint8(modeAPIKey), uint16(0), uint8(0))
	f.Add("", "completed", "", "", "", "", "", uint8(0), uint8(modeSigned), uint16(0), uint8(0))
	f.Add(callSID, "exploded", "", "", "", "", "", uint8(0), uint8(modeSigned), uint16(0), uint8(0))
	f.Add(callSID, "completed", "-3", "", "", "", "", uint8(0), uint8(modeSigned), uint16(0), uint8(0))
	f.Add(callSID, "completed", "1", "", "CallSid", " ", "", uint8(0), uint8(modeSigned), uint16(0), uint8(0))
	f.Add(callSID, "queued", "", "", "", "", "https://switchboard.example:443", uint8(5), uint8(modeSigned), uint16(0), uint8(0))
	f.Add(callSID, "queued", "", "", "", "", "not a URL", uint8(5), uint8(modeFlippedSig), uint16(0), uint8(0))
	f.Fuzz(func(t *testing.T, callSid, status, duration, sipCode, extraName, extraValue, raw string, urlCase, mode uint8, pos uint16, xor uint8) {
		form := url.Values{}
		for _, kv := range [][2]string{{"CallSid", callSid}, {"CallStatus", status}, {"CallDuration", duration}, {"SipResponseCode", sipCode}} {
			if kv[1] != "" {
				form.Set(kv[0], kv[1])
			}
		}
		if extraName != "" {
			form.Set(extraName, extraValue)
		}
		body := form.Encode()

		cbURL, signed := raw, []string{raw}
		known := int(urlCase)%(len(callbackCases)+1) < len(callbackCases)
		if known {
			c := callbackCases[int(urlCase)%(len(callbackCases)+1)]
			cbURL, signed = c.url, c.signed
		}
		m := mode % modes
		if !known && m != modeSigned && m != modeWrongToken && m != modeFlippedSig && m != modeAPIKey {
			m = modeSigned
		}
		good := sign(token, signed[0]+concat(form), nil)
		header, received, useCreds := good, body, creds
		switch m {
		case modeOtherPort:
			header = sign(token, signed[len(signed)-1]+concat(form), nil)
		case modeSeveral:
			header = "bogus=, " + good + " ,"
		case modeWrongToken:
			header = sign("ffffffffffffffffffffffffffffffff", signed[0]+concat(form), nil)
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
		case modeOtherURL:
			header = sign(token, signed[0]+"x"+concat(form), nil)
		case modeAPIKey:
			useCreds = apiKey
		}
		req := callback(header, form)
		if received != body {
			req.Body, req.ContentLength = io.NopCloser(strings.NewReader(received)), int64(len(received))
		}
		ev, err := twilio.Carrier{}.ParseStatusCallback(req, cbURL, useCreds)

		if err != nil && ev != (carriers.StatusEvent{}) {
			t.Fatalf("ParseStatusCallback returned both %+v and %v", ev, err)
		}
		if err != nil && (strings.Contains(err.Error(), token) || strings.Contains(err.Error(), keySecret)) {
			t.Fatalf("error %q shows a secret", err)
		}
		got, parseErr := url.ParseQuery(received)
		valid := false // does the header hold the right signature of what was received?
		for _, part := range strings.Split(header, ",") {
			for _, u := range signed {
				valid = valid || strings.TrimSpace(part) == sign(token, u+concat(got), nil)
			}
		}
		if (m <= modeSeveral && !valid) || ((m == modeWrongToken || m == modeFlippedSig || m == modeOtherURL) && valid) {
			t.Fatalf("test bug: mode %d gives valid = %v", m, valid)
		}

		what := fmt.Sprintf("mode %d, URL %q, body %q, X-Twilio-Signature %q", m, cbURL, received, header)
		switch wantEv, wantErr := expectEvent(got); {
		case m == modeAPIKey:
			if !errors.Is(err, carriers.ErrBadSignature) || !strings.Contains(err.Error(), "add the account's auth token") {
				t.Fatalf("%s: got %v, want ErrBadSignature asking for the auth token", what, err)
			}
		case header == "":
			if !errors.Is(err, carriers.ErrBadSignature) || !strings.Contains(err.Error(), "header is missing") {
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
