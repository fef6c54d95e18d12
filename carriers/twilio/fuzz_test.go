package twilio_test

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/switchboard-dev/switchboard/carriers"
	"github.com/switchboard-dev/switchboard/carriers/carriertest"
	"github.com/switchboard-dev/switchboard/carriers/twilio"
)

// The documented formats of the credential fields.
var (
	accountSIDRule = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	apiKeySIDRule  = regexp.MustCompile(`^SK[0-9a-fA-F]{32}$`)
	secretRule     = regexp.MustCompile(`^[A-Za-z0-9]+$`) // auth token and API key secret
)

// credentialFields are Twilio's credentials documents for carriertest.CheckCredentialFields: the
// keys in the order of the fuzz arguments, the secrets, the documented rules and the two shapes.
var credentialFields = carriertest.CredentialFields{
	Carrier:    twilio.Carrier{},
	Keys:       []string{"account_sid", "auth_token", "api_key_sid", "api_key_secret"},
	Secret:     map[string]bool{"auth_token": true, "api_key_secret": true},
	WellFormed: wellFormed,
	Shape:      shape,
	Credentials: func(v []string) carriers.Credentials {
		return twilio.Credentials{AccountSID: v[0], AuthToken: v[1], APIKeySID: v[2], APIKeySecret: v[3]}
	},
}

// wellFormed reports whether the documented rules accept the document CredentialsDoc builds: no
// unknown or repeated key, every value given as a string or null, each given value (trimmed) in
// its format, account_sid given, and then either auth_token alone or api_key_sid with
// api_key_secret.
func wellFormed(values []string, layout uint16) bool {
	v, ok := carriertest.Fields(values, layout)
	sid, tok, keySID, keySecret := v[0], v[1], v[2], v[3]
	if !ok || !accountSIDRule.MatchString(sid) || (tok != "" && !secretRule.MatchString(tok)) ||
		(keySID != "" && !apiKeySIDRule.MatchString(keySID)) || (keySecret != "" && !secretRule.MatchString(keySecret)) {
		return false
	}
	return (tok != "" && keySID == "" && keySecret == "") || (tok == "" && keySID != "" && keySecret != "")
}

// shape is the documented rule on the fields the shared decoder accepted: auth_token, or
// api_key_sid with api_key_secret, not both; it gives the key an error is about and the message
// that explains the two shapes, or "" "" when m is in one of them.
func shape(m map[string]string) (field, message string) {
	hasToken, hasSID, hasSecret := m["auth_token"] != "", m["api_key_sid"] != "", m["api_key_secret"] != ""
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
	default:
		return "", ""
	}
	return field, "give either auth_token, or api_key_sid together with api_key_secret (not both)"
}

// FuzzCredentialFields builds credentials documents from fuzzed values and checks ParseCredentials
// exactly with carriertest.CheckCredentialFields: it accepts exactly the documents wellFormed
// does; a document the shared decoder rejects gives the decoder's error; otherwise the
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
		carriertest.CheckCredentialFields(t, credentialFields, []string{accountSID, authToken, apiKeySID, apiKeySecret}, layout)
	})
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

// callbacks are Twilio's rules for status callbacks: X-Twilio-Signature, CallSid, its
// CallStatus words and event names (any case, trimmed), CallDuration, and SipResponseCode as the
// reason.
var callbacks = carriertest.CallbackRules{
	Params:  []string{"CallSid", "CallStatus", "CallDuration", "SipResponseCode"},
	Missing: "header is missing",
	IDs:     []string{"CallSid"},
	NoID:    "has no CallSid",
	Statuses: map[string]carriers.CallStatus{
		"queued": carriers.StatusQueued, "initiated": carriers.StatusQueued, "ringing": carriers.StatusRinging,
		"in-progress": carriers.StatusInProgress, "answered": carriers.StatusInProgress,
		"completed": carriers.StatusCompleted, "busy": carriers.StatusBusy, "failed": carriers.StatusFailed,
		"no-answer": carriers.StatusNoAnswer, "canceled": carriers.StatusCanceled,
	},
	Duration: "CallDuration",
	Reason: func(form url.Values) string {
		if code := strings.TrimSpace(form.Get("SipResponseCode")); code != "" {
			return "SIP " + code
		}
		return ""
	},
}

// Twilio's own modes of FuzzStatusCallback; the others are carriertest's (ModeSigned signs for
// the callback URL as given).
const (
	modeOtherPort = carriertest.ModeVariant // signed for the URL with its default port added or removed
	modeOtherURL  = carriertest.ModeOwn     // signed for another URL
	modeAPIKey    = carriertest.ModeOwn + 1 // right signature, but the provider holds an API key
	modes         = carriertest.ModeOwn + 2
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
	f.Add(callSID, "completed", "42", "200", "To", "+14155550123", "", uint8(0), uint8(carriertest.ModeSigned), uint16(0), uint8(0))
	f.Add(callSID, "ringing", "", "", "", "", "", uint8(1), uint8(modeOtherPort), uint16(0), uint8(0))
	f.Add(callSID, " In-Progress ", "", "", "AccountSid", sid, "", uint8(2), uint8(carriertest.ModeSeveral), uint16(0), uint8(0))
	f.Add(callSID, "busy", "0.5", "486", "", "", "", uint8(3), uint8(carriertest.ModeWrongKey), uint16(0), uint8(0))
	f.Add(callSID, "no-answer", "0", "", "", "", "", uint8(4), uint8(carriertest.ModeFlippedSig), uint16(7), uint8(1))
	f.Add(callSID, "completed", "42", "", "", "", "", uint8(0), uint8(carriertest.ModeMutatedBody), uint16(60), uint8(2))
	f.Add(callSID, "canceled", "", "", "", "", "bogus=, ", uint8(1), uint8(carriertest.ModeRawHeader), uint16(0), uint8(0))
	f.Add(callSID, "failed", "", "", "", "", "", uint8(2), uint8(modeOtherURL), uint16(0), uint8(0))
	f.Add(callSID, "completed", "", "", "", "", "", uint8(0), uint8(modeAPIKey), uint16(0), uint8(0))
	f.Add("", "completed", "", "", "", "", "", uint8(0), uint8(carriertest.ModeSigned), uint16(0), uint8(0))
	f.Add(callSID, "exploded", "", "", "", "", "", uint8(0), uint8(carriertest.ModeSigned), uint16(0), uint8(0))
	f.Add(callSID, "completed", "-3", "", "", "", "", uint8(0), uint8(carriertest.ModeSigned), uint16(0), uint8(0))
	f.Add(callSID, "completed", "1", "", "CallSid", " ", "", uint8(0), uint8(carriertest.ModeSigned), uint16(0), uint8(0))
	f.Add(callSID, "queued", "", "", "", "", "https://switchboard.example:443", uint8(5), uint8(carriertest.ModeSigned), uint16(0), uint8(0))
	f.Add(callSID, "queued", "", "", "", "", "not a URL", uint8(5), uint8(carriertest.ModeFlippedSig), uint16(0), uint8(0))
	f.Fuzz(func(t *testing.T, callSid, status, duration, sipCode, extraName, extraValue, raw string, urlCase, mode uint8, pos uint16, xor uint8) {
		form := callbacks.Form([]string{callSid, status, duration, sipCode}, extraName, extraValue)
		cbURL, signed := raw, []string{raw}
		known := int(urlCase)%(len(callbackCases)+1) < len(callbackCases)
		if known {
			c := callbackCases[int(urlCase)%(len(callbackCases)+1)]
			cbURL, signed = c.url, c.signed
		}
		m := mode % modes
		if !known && !slices.Contains([]uint8{carriertest.ModeSigned, carriertest.ModeWrongKey, carriertest.ModeFlippedSig, modeAPIKey}, m) {
			m = carriertest.ModeSigned
		}
		params := carriertest.Concat(form)
		header, received := carriertest.Tampered(m, sign(token, signed[0]+params, nil),
			sign("ffffffffffffffffffffffffffffffff", signed[0]+params, nil), form.Encode(), raw, pos, xor)
		useCreds := creds
		switch m {
		case modeOtherPort:
			header = sign(token, signed[len(signed)-1]+params, nil)
		case modeOtherURL:
			header = sign(token, signed[0]+"x"+params, nil)
		case modeAPIKey:
			useCreds = apiKey
		}
		ev, err := twilio.Carrier{}.ParseStatusCallback(carriertest.WithBody(callback(header, form), received), cbURL, useCreds)

		got, _ := url.ParseQuery(received)
		var sigs []string // the right signatures of what was received
		for _, u := range signed {
			sigs = append(sigs, sign(token, u+carriertest.Concat(got), nil))
		}
		valid := carriertest.Holds(header, sigs...)
		if (m <= carriertest.ModeSeveral && !valid) ||
			(slices.Contains([]uint8{carriertest.ModeWrongKey, carriertest.ModeFlippedSig, modeOtherURL}, m) && valid) {
			t.Fatalf("test bug: mode %d gives valid = %v", m, valid)
		}
		cb := carriertest.SentCallback{Mode: m, URL: cbURL, Body: received, Signature: header, Valid: valid, Rules: callbacks,
			Secrets: []string{token, keySecret}}
		if m == modeAPIKey {
			cb.Refusal = "add the account's auth token"
		}
		carriertest.CheckStatusCallback(t, cb, ev, err)
	})
}
