package plivo_test

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/switchboard-dev/switchboard/carriers"
	"github.com/switchboard-dev/switchboard/carriers/carriertest"
	"github.com/switchboard-dev/switchboard/carriers/plivo"
)

// authIDRule is the documented Auth ID format: "MA" or "SA" then 18 upper-case letters or digits.
var authIDRule = regexp.MustCompile(`^(MA|SA)[A-Z0-9]{18}$`)

// credentialFields are Plivo's credentials documents for carriertest.CheckCredentialFields.
var credentialFields = carriertest.PlivoStyleFields(plivo.Carrier{}, authIDRule, func(authID, authToken string) carriers.Credentials {
	return plivo.Credentials{AuthID: authID, AuthToken: authToken}
})

// FuzzCredentialFields builds credentials documents from fuzzed values and checks ParseCredentials
// exactly with carriertest.CheckCredentialFields: it accepts exactly the documents the documented
// rules do (both keys once, as strings, no unknown key; the Auth ID, trimmed, matching authIDRule;
// the token not blank); it fails exactly when the shared decoder does, with the decoder's error;
// accepted credentials hold the submitted values trimmed and survive a JSON round trip; and
// neither an error nor the credentials' String, GoString, LogValue, Hint or fmt output change
// when the values are disguised, so none of them shows a value.
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
		carriertest.CheckCredentialFields(t, credentialFields, []string{authID, authToken}, layout)
	})
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
	c, params := callbackCases[i], carriertest.Concat(form)
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

// modeOtherQuery (carriertest.ModeVariant) is Plivo's own mode of FuzzStatusCallback: signed as
// plivo-python signs it (query values decoded). The others are carriertest's; ModeSigned signs as
// plivo-go does.
const modeOtherQuery = carriertest.ModeVariant

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
	f.Add("c-1", "completed", "42", "NORMAL_CLEARING", "RequestUUID", requestUUID, "n0nce", "", uint8(0), uint8(carriertest.ModeSigned), uint16(0), uint8(0))
	f.Add("c-1", "ringing", "", "", "", "", "12345", "", uint8(1), uint8(carriertest.ModeSigned), uint16(0), uint8(0))
	f.Add("c-1", "timeout", "0", "NO_ANSWER", "BillDuration", "0", "n", "", uint8(3), uint8(modeOtherQuery), uint16(0), uint8(0))
	f.Add("c-1", "Busy ", "", "", "HangupCauseName", "User Busy", "n", "", uint8(2), uint8(carriertest.ModeSeveral), uint16(0), uint8(0))
	f.Add("c-1", "failed", "", "CALL_REJECTED", "HangupCauseName", "Rejected", "n", "", uint8(0), uint8(carriertest.ModeSigned), uint16(0), uint8(0))
	f.Add("c-1", "completed", "", "", "", "", "n", "", uint8(0), uint8(carriertest.ModeWrongKey), uint16(0), uint8(0))
	f.Add("c-1", "completed", "", "", "", "", "n", "", uint8(0), uint8(carriertest.ModeFlippedSig), uint16(43), uint8(0x20))
	f.Add("c-1", "completed", "42", "", "", "", "n", "", uint8(1), uint8(carriertest.ModeMutatedBody), uint16(9), uint8(1))
	f.Add("c-1", "cancelled", "", "", "", "", "n", "x=, ,", uint8(0), uint8(carriertest.ModeRawHeader), uint16(0), uint8(0))
	f.Add("c-1", "completed", "", "", "", "", "n", "", uint8(0), uint8(carriertest.ModeOtherNonce), uint16(0), uint8(0))
	f.Add("c-1", "completed", "", "", "", "", "n", "", uint8(2), uint8(carriertest.ModeOtherPath), uint16(0), uint8(0))
	f.Add("c-1", "completed", "", "", "", "", "", "", uint8(0), uint8(carriertest.ModeSigned), uint16(0), uint8(0))
	f.Add("", "busy", "", "", "", "", "n", "", uint8(0), uint8(carriertest.ModeSigned), uint16(0), uint8(0))
	f.Add("c-1", "answered", "", "", "", "", "n", "", uint8(0), uint8(carriertest.ModeSigned), uint16(0), uint8(0))
	f.Add("c-1", "completed", "x", "", "", "", "n", "", uint8(0), uint8(carriertest.ModeSigned), uint16(0), uint8(0))
	f.Add("", "", "", "", "", "", "n", "", uint8(1), uint8(carriertest.ModeSigned), uint16(0), uint8(0))
	f.Add("c-1", "completed", "", "", "", "", "n", "https://h/p?b=2&a=%2F", uint8(4), uint8(carriertest.ModeSigned), uint16(0), uint8(0))
	f.Add("c-1", "completed", "", "", "", "", "n", "::", uint8(4), uint8(carriertest.ModeSigned), uint16(0), uint8(0))
	f.Fuzz(func(t *testing.T, callID, status, duration, cause, extraName, extraValue, nonce, raw string, urlCase, mode uint8, pos uint16, xor uint8) {
		form := carriertest.PlivoStyleCallbacks.Form([]string{callID, status, duration, cause}, extraName, extraValue)
		i := int(urlCase) % (len(callbackCases) + 1)
		known := i < len(callbackCases)
		texts, cbURL := func(form url.Values) []string { return plivo.SignedTextV3(raw, form) }, raw
		if known {
			texts, cbURL = func(form url.Values) []string { return signedTexts(i, form) }, callbackCases[i].url
		}
		m := mode % carriertest.PlivoStyleModes
		if !known && !slices.Contains([]uint8{carriertest.ModeSigned, carriertest.ModeWrongKey, carriertest.ModeFlippedSig, carriertest.ModeOtherNonce}, m) {
			m = carriertest.ModeSigned
		}
		all := append(texts(form), raw) // raw signs something when a fuzzed URL gives no text
		header, received := carriertest.Tampered(m, signV3(token, all[0]+"."+nonce), signV3("another-token", all[0]+"."+nonce), form.Encode(), raw, pos, xor)
		headerNonce := nonce
		switch m {
		case modeOtherQuery:
			header = signV3(token, all[len(all)-2]+"."+nonce)
		case carriertest.ModeOtherNonce:
			headerNonce = nonce + "1"
		case carriertest.ModeOtherPath:
			header = signV3(token, strings.Replace(all[0], callbackCases[i].base, callbackCases[i].base+"x", 1)+"."+nonce)
		}
		ev, err := plivo.Carrier{}.ParseStatusCallback(carriertest.WithBody(callback(header, headerNonce, form), received), cbURL, creds)

		got, _ := url.ParseQuery(received)
		var sigs []string // the right signatures of what was received
		for _, text := range texts(got) {
			sigs = append(sigs, signV3(token, text+"."+headerNonce))
		}
		valid := carriertest.Holds(header, sigs...)
		if known && nonce != "" && (m <= carriertest.ModeSeveral && !valid ||
			slices.Contains([]uint8{carriertest.ModeWrongKey, carriertest.ModeFlippedSig, carriertest.ModeOtherNonce, carriertest.ModeOtherPath}, m) && valid) {
			t.Fatalf("test bug: mode %d gives valid = %v", m, valid)
		}
		carriertest.CheckStatusCallback(t, carriertest.SentCallback{Mode: m, URL: cbURL, Body: received, Signature: header, Nonce: headerNonce,
			Valid: valid, Rules: carriertest.PlivoStyleCallbacks, Secrets: []string{token}}, ev, err)
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
		base, params := u.Scheme+"://"+u.Host+u.EscapedPath(), carriertest.Concat(form)
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
