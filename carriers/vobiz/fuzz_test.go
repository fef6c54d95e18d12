package vobiz_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/switchboard-dev/switchboard/carriers"
	"github.com/switchboard-dev/switchboard/carriers/carriertest"
	"github.com/switchboard-dev/switchboard/carriers/vobiz"
)

// credentialKeys are the keys of a Vobiz credentials document, in the order of the fuzz
// arguments; auth_token is the secret.
var credentialKeys = []string{"auth_id", "auth_token"}

// authIDRule is the documented Auth ID format: "MA_" or "SA_" then letters or digits.
var authIDRule = regexp.MustCompile(`^(MA|SA)_[A-Za-z0-9]+$`)

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

		m, decodeErr := carriers.DecodeFields(doc, "Vobiz", vobiz.Carrier{}.Info().CredentialFields)
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

		want := vobiz.Credentials{AuthID: strings.TrimSpace(carriertest.Sent(authID)), AuthToken: strings.TrimSpace(carriertest.Sent(authToken))}
		if c, ok := got.(vobiz.Credentials); err != nil || !ok || c != want || m["auth_id"] != want.AuthID {
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

// callbackCases are callback URLs with, written out by hand, the text Vobiz signs for each
// (before "." and the nonce): the URL without its query or fragment. The body is not signed.
var callbackCases = []struct{ url, text string }{
	{"https://switchboard.example:8443/webhooks/vobiz/prov_01J?k=v", "https://switchboard.example:8443/webhooks/vobiz/prov_01J"},
	{"https://switchboard.example/cb", "https://switchboard.example/cb"},
	{"http://127.0.0.1/cb?x=1#frag", "http://127.0.0.1/cb"},
	{"https://switchboard.example/a%20b#f?g", "https://switchboard.example/a%20b"},
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
	modeSigned      = iota // signed for the callback URL
	modeOtherQuery         // signed, and the callback URL's query differs (not signed)
	modeSeveral            // the right signature among others, with white space
	modeWrongToken         // signed with another auth token
	modeFlippedSig         // one byte of the right signature changed
	modeMutatedBody        // signed, then one byte of the body changed (not signed)
	modeRawHeader          // the fuzzer's own X-Vobiz-Signature-V3
	modeOtherNonce         // the nonce header differs from the signed nonce
	modeOtherURL           // signed for another path
	modes
)

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
	f.Add("c-9", "cancel", "0", "ORIGINATOR_CANCEL", "RequestUUID", requestUUID, "46347661609492873878", "", uint8(0), uint8(modeSigned), uint16(0), uint8(0))
	f.Add("c-9", "completed", "17", "NORMAL_CLEARING", "Event", "Hangup", "n", "", uint8(1), uint8(modeSigned), uint16(0), uint8(0))
	f.Add("c-9", "ringing", "", "", "", "", "n", "", uint8(2), uint8(modeOtherQuery), uint16(0), uint8(0))
	f.Add("c-9", "no-answer", "", "", "", "", "n", "", uint8(3), uint8(modeSeveral), uint16(0), uint8(0))
	f.Add("c-9", "completed", "", "", "", "", "n", "", uint8(0), uint8(modeWrongToken), uint16(0), uint8(0))
	f.Add("c-9", "completed", "", "", "", "", "n", "", uint8(0), uint8(modeFlippedSig), uint16(3), uint8(0x80))
	f.Add("c-9", "completed", "17", "", "", "", "n", "", uint8(0), uint8(modeMutatedBody), uint16(40), uint8(1))
	f.Add("c-9", "completed", "", "", "", "", "n", "junk", uint8(0), uint8(modeRawHeader), uint16(0), uint8(0))
	f.Add("c-9", "completed", "", "", "", "", "n", "", uint8(0), uint8(modeOtherNonce), uint16(0), uint8(0))
	f.Add("c-9", "completed", "", "", "", "", "n", "", uint8(1), uint8(modeOtherURL), uint16(0), uint8(0))
	f.Add("c-9", "completed", "", "", "", "", "", "", uint8(0), uint8(modeSigned), uint16(0), uint8(0))
	f.Add("c-9", "busy", "", "USER_BUSY", "HangupCauseName", "User Busy", "n", "", uint8(0), uint8(modeSigned), uint16(0), uint8(0))
	f.Add("c-9", "lost", "", "", "", "", "n", "", uint8(0), uint8(modeSigned), uint16(0), uint8(0))
	f.Add("c-9", "busy", "1e3", "", "", "", "n", "", uint8(0), uint8(modeSigned), uint16(0), uint8(0))
	f.Add("c-9", "queued", "", "", "", "", "n", "https://h:8443/p?q#f", uint8(4), uint8(modeSigned), uint16(0), uint8(0))
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
		cbURL, text := raw, raw
		text, _, _ = strings.Cut(text, "#")
		text, _, _ = strings.Cut(text, "?")
		m := mode % modes
		if i < len(callbackCases) {
			cbURL, text = callbackCases[i].url, callbackCases[i].text
		} else if m != modeSigned && m != modeWrongToken && m != modeFlippedSig && m != modeOtherNonce {
			m = modeSigned
		}
		good := sign(token, text+"."+nonce)
		header, headerNonce, received, givenURL := good, nonce, body, cbURL
		switch m {
		case modeOtherQuery:
			if strings.Contains(cbURL, "?") {
				givenURL = strings.Replace(cbURL, "?", "?y=2&", 1)
			} else {
				givenURL = strings.Replace(cbURL+"#", "#", "?y=2#", 1)
			}
		case modeSeveral:
			header = "bogus=, " + good + " ,"
		case modeWrongToken:
			header = sign("another-token", text+"."+nonce)
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
			header = sign(token, text+"x."+nonce)
		}
		req := callback(header, headerNonce, form)
		if received != body {
			req.Body, req.ContentLength = io.NopCloser(strings.NewReader(received)), int64(len(received))
		}
		ev, err := vobiz.Carrier{}.ParseStatusCallback(req, givenURL, creds)

		if err != nil && ev != (carriers.StatusEvent{}) {
			t.Fatalf("ParseStatusCallback returned both %+v and %v", ev, err)
		}
		if err != nil && strings.Contains(err.Error(), token) {
			t.Fatalf("error %q shows the auth token", err)
		}
		got, parseErr := url.ParseQuery(received)
		valid := false // does the header hold the right signature?
		for _, part := range strings.Split(header, ",") {
			valid = valid || strings.TrimSpace(part) == sign(token, text+"."+headerNonce)
		}
		if nonce != "" && (m <= modeSeveral || m == modeMutatedBody) != valid && m != modeRawHeader {
			t.Fatalf("test bug: mode %d gives valid = %v", m, valid)
		}

		what := fmt.Sprintf("mode %d, URL %q, body %q, signature %q, nonce %q", m, givenURL, received, header, headerNonce)
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
