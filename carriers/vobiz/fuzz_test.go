package vobiz_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/switchboard-dev/switchboard/carriers"
	"github.com/switchboard-dev/switchboard/carriers/carriertest"
	"github.com/switchboard-dev/switchboard/carriers/vobiz"
)

// authIDRule is the documented Auth ID format: "MA_" or "SA_" then letters or digits.
var authIDRule = regexp.MustCompile(`^(MA|SA)_[A-Za-z0-9]+$`)

// credentialFields are Vobiz's credentials documents for carriertest.CheckCredentialFields.
var credentialFields = carriertest.PlivoStyleFields(vobiz.Carrier{}, authIDRule, func(authID, authToken string) carriers.Credentials {
	return vobiz.Credentials{AuthID: authID, AuthToken: authToken}
})

// FuzzCredentialFields builds credentials documents from fuzzed values and checks ParseCredentials
// exactly with carriertest.CheckCredentialFields: it accepts exactly the documents the documented
// rules do (both keys once, as strings, no unknown key; the Auth ID, trimmed, matching authIDRule;
// the token not blank); it fails exactly when the shared decoder does, with the decoder's error;
// accepted credentials hold the submitted values trimmed and survive a JSON round trip; and
// neither an error nor the credentials' String, GoString, LogValue, Hint or fmt output change
// when the values are disguised, so none of them shows a value.
func FuzzCredentialFields(f *testing.F) {
	f.Add(authID, token, uint16(0x05))                               // valid
	f.Add("SA_x", " x ", uint16(0x05))                               // shortest subaccount id, short token
	f.Add(" "+authID+"\n", "\t"+token+" ", uint16(0x05))             // white space
	f.Add(authID, "p@ss wörd!", uint16(0x05))                        // any token
	f.Add(strings.ToLower(authID), "Zq7SuperSecret42", uint16(0x05)) // lower-case prefix
	f.Add("MA0123456789ABCDEF01", token, uint16(0x05))               // Plivo-style Auth ID
	f.Add("MA_", token, uint16(0x05))                                // prefix only
	f.Add("MA_abc-def", token, uint16(0x05))                         // punctuation
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

// callbackCases are callback URLs with, written out by hand, the text Vobiz signs for each
// (before "." and the nonce): the URL without its query or fragment. The body is not signed.
var callbackCases = []struct{ url, text string }{
	{"https://switchboard.example:8443/webhooks/vobiz/prov_01J?k=v", "https://switchboard.example:8443/webhooks/vobiz/prov_01J"},
	{"https://switchboard.example/cb", "https://switchboard.example/cb"},
	{"http://127.0.0.1/cb?x=1#frag", "http://127.0.0.1/cb"},
	{"https://switchboard.example/a%20b#f?g", "https://switchboard.example/a%20b"},
}

// modeOtherQuery (carriertest.ModeVariant) is Vobiz's own mode of FuzzStatusCallback: signed, and
// the callback URL's query differs (it is not signed). The others are carriertest's; ModeSigned
// signs for the callback URL, and in ModeMutatedBody the body is not signed.
const modeOtherQuery = carriertest.ModeVariant

// FuzzStatusCallback builds status callbacks from fuzzed parameters and nonces, signs some
// correctly and some wrongly, and checks ParseStatusCallback against Vobiz's V3 scheme: a
// callback is accepted only when X-Vobiz-Signature-V3 holds base64(HMAC-SHA256(auth token,
// scheme://host[:port]/path + "." + the X-Vobiz-Signature-V3-Nonce header)), and then it gives
// exactly the call id, status, duration and hangup cause sent (or says which of them is
// malformed). Vobiz does not sign the body or the query, so a validly signed callback whose body
// was changed is accepted with the changed values: a weakness of the carrier's scheme that this
// test pins down rather than hides. With a fuzzed callback URL (urlCase past the list) the text is
// that URL cut at "?" and "#".
func FuzzStatusCallback(f *testing.F) {
	creds, err := parse(validDoc)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("c-9", "cancel", "0", "ORIGINATOR_CANCEL", "RequestUUID", requestUUID, "46347661609492873878", "", uint8(0), uint8(carriertest.ModeSigned), uint16(0), uint8(0))
	f.Add("c-9", "completed", "17", "NORMAL_CLEARING", "Event", "Hangup", "n", "", uint8(1), uint8(carriertest.ModeSigned), uint16(0), uint8(0))
	f.Add("c-9", "ringing", "", "", "", "", "n", "", uint8(2), uint8(modeOtherQuery), uint16(0), uint8(0))
	f.Add("c-9", "no-answer", "", "", "", "", "n", "", uint8(3), uint8(carriertest.ModeSeveral), uint16(0), uint8(0))
	f.Add("c-9", "completed", "", "", "", "", "n", "", uint8(0), uint8(carriertest.ModeWrongKey), uint16(0), uint8(0))
	f.Add("c-9", "completed", "", "", "", "", "n", "", uint8(0), uint8(carriertest.ModeFlippedSig), uint16(3), uint8(0x80))
	f.Add("c-9", "completed", "17", "", "", "", "n", "", uint8(0), uint8(carriertest.ModeMutatedBody), uint16(40), uint8(1))
	f.Add("c-9", "completed", "", "", "", "", "n", "junk", uint8(0), uint8(carriertest.ModeRawHeader), uint16(0), uint8(0))
	f.Add("c-9", "completed", "", "", "", "", "n", "", uint8(0), uint8(carriertest.ModeOtherNonce), uint16(0), uint8(0))
	f.Add("c-9", "completed", "", "", "", "", "n", "", uint8(1), uint8(carriertest.ModeOtherPath), uint16(0), uint8(0))
	f.Add("c-9", "completed", "", "", "", "", "", "", uint8(0), uint8(carriertest.ModeSigned), uint16(0), uint8(0))
	f.Add("c-9", "busy", "", "USER_BUSY", "HangupCauseName", "User Busy", "n", "", uint8(0), uint8(carriertest.ModeSigned), uint16(0), uint8(0))
	f.Add("c-9", "failed", "", "", "HangupCauseName", "Rejected", "n", "", uint8(2), uint8(carriertest.ModeSigned), uint16(0), uint8(0))
	f.Add("c-9", "lost", "", "", "", "", "n", "", uint8(0), uint8(carriertest.ModeSigned), uint16(0), uint8(0))
	f.Add("c-9", "busy", "1e3", "", "", "", "n", "", uint8(0), uint8(carriertest.ModeSigned), uint16(0), uint8(0))
	f.Add("c-9", "queued", "", "", "", "", "n", "https://h:8443/p?q#f", uint8(4), uint8(carriertest.ModeSigned), uint16(0), uint8(0))
	f.Fuzz(func(t *testing.T, callID, status, duration, cause, extraName, extraValue, nonce, raw string, urlCase, mode uint8, pos uint16, xor uint8) {
		form := carriertest.PlivoStyleCallbacks.Form([]string{callID, status, duration, cause}, extraName, extraValue)
		i := int(urlCase) % (len(callbackCases) + 1)
		cbURL, text := raw, raw
		text, _, _ = strings.Cut(text, "#")
		text, _, _ = strings.Cut(text, "?")
		m := mode % carriertest.PlivoStyleModes
		if i < len(callbackCases) {
			cbURL, text = callbackCases[i].url, callbackCases[i].text
		} else if !slices.Contains([]uint8{carriertest.ModeSigned, carriertest.ModeWrongKey, carriertest.ModeFlippedSig, carriertest.ModeOtherNonce}, m) {
			m = carriertest.ModeSigned
		}
		header, received := carriertest.Tampered(m, sign(token, text+"."+nonce), sign("another-token", text+"."+nonce), form.Encode(), raw, pos, xor)
		headerNonce, givenURL := nonce, cbURL
		switch m {
		case modeOtherQuery:
			if strings.Contains(cbURL, "?") {
				givenURL = strings.Replace(cbURL, "?", "?y=2&", 1)
			} else {
				givenURL = strings.Replace(cbURL+"#", "#", "?y=2#", 1)
			}
		case carriertest.ModeOtherNonce:
			headerNonce = nonce + "1"
		case carriertest.ModeOtherPath:
			header = sign(token, text+"x."+nonce)
		}
		ev, err := vobiz.Carrier{}.ParseStatusCallback(carriertest.WithBody(callback(header, headerNonce, form), received), givenURL, creds)

		valid := carriertest.Holds(header, sign(token, text+"."+headerNonce)) // does the header hold the right signature?
		if nonce != "" && (m <= carriertest.ModeSeveral || m == carriertest.ModeMutatedBody) != valid && m != carriertest.ModeRawHeader {
			t.Fatalf("test bug: mode %d gives valid = %v", m, valid)
		}
		carriertest.CheckStatusCallback(t, carriertest.SentCallback{Mode: m, URL: givenURL, Body: received, Signature: header, Nonce: headerNonce,
			Valid: valid, Rules: carriertest.PlivoStyleCallbacks, Secrets: []string{token}}, ev, err)
	})
}
