package twilio_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/switchboard-dev/switchboard/carriers"
	"github.com/switchboard-dev/switchboard/carriers/carriertest"
	"github.com/switchboard-dev/switchboard/carriers/twilio"
)

const (
	sid       = "AC0123456789abcdef0123456789ab9f2c"
	token     = "0123456789abcdef0123456789abcdef"
	keySID    = "SK00112233445566778899aabbccdd1e2f"
	keySecret = "AbCdEf0123456789AbCdEf0123456789"
)

var (
	tokenDoc  = `{"account_sid":"` + sid + `","auth_token":"` + token + `"}`
	apiKeyDoc = `{"account_sid":"` + sid + `","api_key_sid":"` + keySID + `","api_key_secret":"` + keySecret + `"}`
)

func parse(doc string) (carriers.Credentials, error) {
	return twilio.Carrier{}.ParseCredentials(json.RawMessage(doc))
}

func TestRegistered(t *testing.T) {
	c, ok := carriers.Lookup("twilio")
	if !ok {
		t.Fatal(`carriers.Lookup("twilio") found nothing`)
	}
	if info := c.Info(); info.ID != twilio.ID || info.DisplayName != "Twilio" {
		t.Errorf("Info() = %q %q", info.ID, info.DisplayName)
	}
}

func TestConformance(t *testing.T) {
	carriertest.Conformance(t, twilio.Carrier{}, json.RawMessage(tokenDoc), json.RawMessage(apiKeyDoc))
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want twilio.Credentials
	}{
		{"auth token", tokenDoc, twilio.Credentials{AccountSID: sid, AuthToken: token}},
		{"api key", apiKeyDoc, twilio.Credentials{AccountSID: sid, APIKeySID: keySID, APIKeySecret: keySecret}},
		{"upper-case hex", `{"account_sid":"AC0123456789ABCDEF0123456789AB9F2C","auth_token":"x"}`,
			twilio.Credentials{AccountSID: "AC0123456789ABCDEF0123456789AB9F2C", AuthToken: "x"}},
		{"surrounding whitespace", "{\"account_sid\":\"  " + sid + "\\n\",\"auth_token\":\"\\t" + token + " \"}",
			twilio.Credentials{AccountSID: sid, AuthToken: token}},
		{"unused api key fields empty", `{"account_sid":"` + sid + `","auth_token":"` + token + `","api_key_sid":"","api_key_secret":null}`,
			twilio.Credentials{AccountSID: sid, AuthToken: token}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(tt.doc)
			if err != nil {
				t.Fatalf("ParseCredentials: %v", err)
			}
			c, ok := got.(twilio.Credentials)
			if !ok {
				t.Fatalf("credentials are %T, want twilio.Credentials", got)
			}
			if c != tt.want {
				// %v would be redacted by String, so show the fields.
				t.Errorf("got %q %q %q %q, want %q %q %q %q", c.AccountSID, c.AuthToken, c.APIKeySID, c.APIKeySecret,
					tt.want.AccountSID, tt.want.AuthToken, tt.want.APIKeySID, tt.want.APIKeySecret)
			}
			if h := c.Hint(); h != "AC…"+tt.want.AccountSID[len(tt.want.AccountSID)-4:] {
				t.Errorf("Hint() = %q", h)
			}
		})
	}
}

func TestRoundTripKeepsShape(t *testing.T) {
	for _, doc := range []string{tokenDoc, apiKeyDoc} {
		c, err := parse(doc)
		if err != nil {
			t.Fatal(err)
		}
		sealed, _ := json.Marshal(c)
		if string(sealed) != doc {
			t.Errorf("json.Marshal = %s, want %s", sealed, doc)
		}
	}
}

func TestBasicAuth(t *testing.T) {
	for _, tt := range []struct{ doc, user, pass string }{
		{tokenDoc, sid, token},
		{apiKeyDoc, keySID, keySecret},
	} {
		c, _ := parse(tt.doc)
		u, p := c.(twilio.Credentials).BasicAuth()
		if u != tt.user || p != tt.pass {
			t.Errorf("BasicAuth() = %q, %q; want %q, %q", u, p, tt.user, tt.pass)
		}
	}
}

func TestParseErrors(t *testing.T) {
	obj := func(kv ...string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	tests := []struct {
		name      string
		doc       string
		wantField string
		wantMsg   []string
	}{
		{"empty object", `{}`, "account_sid", []string{"account_sid (Account SID) is required", `"AC" followed by 32 hexadecimal characters`}},
		{"missing account_sid", obj("auth_token", token), "account_sid", []string{"is required"}},
		{"missing auth_token and api key", obj("account_sid", sid), "auth_token",
			[]string{"auth_token (Auth Token) is required", "either auth_token, or api_key_sid together with api_key_secret"}},
		{"blank auth_token", obj("account_sid", sid, "auth_token", "  "), "auth_token", []string{"is required"}},
		{"api_key_sid without secret", obj("account_sid", sid, "api_key_sid", keySID), "api_key_secret",
			[]string{"api_key_secret (API Key Secret) is required with api_key_sid"}},
		{"api_key_secret without sid", obj("account_sid", sid, "api_key_secret", keySecret), "api_key_sid",
			[]string{"api_key_sid (API Key SID) is required with api_key_secret"}},
		{"auth_token with api_key_sid", obj("account_sid", sid, "auth_token", token, "api_key_sid", keySID), "api_key_sid",
			[]string{"cannot have api_key_sid together with auth_token", "not both"}},
		{"auth_token with api_key_secret", obj("account_sid", sid, "auth_token", token, "api_key_secret", keySecret), "api_key_secret",
			[]string{"cannot have api_key_secret together with auth_token"}},
		{"all three", obj("account_sid", sid, "auth_token", token, "api_key_sid", keySID, "api_key_secret", keySecret), "auth_token",
			[]string{"cannot have auth_token together with an API key"}},
		{"wrong prefix", obj("account_sid", "AX"+sid[2:], "auth_token", token), "account_sid", []string{"is not valid", `"AC" followed by`}},
		{"lower-case prefix", obj("account_sid", "ac"+sid[2:], "auth_token", token), "account_sid", []string{"is not valid"}},
		{"API key SID as account SID", obj("account_sid", keySID, "auth_token", token), "account_sid", []string{"is not valid"}},
		{"too short", obj("account_sid", sid[:33], "auth_token", token), "account_sid", []string{"has 33 characters"}},
		{"too long", obj("account_sid", sid+"0", "auth_token", token), "account_sid", []string{"has 35 characters"}},
		{"non-hex", obj("account_sid", "AC0123456789abcdef0123456789abcdeg", "auth_token", token), "account_sid", []string{"hexadecimal"}},
		{"inner space", obj("account_sid", "AC0123456789abcdef 123456789abcdef", "auth_token", token), "account_sid", []string{"is not valid"}},
		{"token not alphanumeric", obj("account_sid", sid, "auth_token", "abc-def"), "auth_token",
			[]string{"auth_token (Auth Token) is not valid: expected one or more letters or digits"}},
		{"api key sid wrong prefix", obj("account_sid", sid, "api_key_sid", "AC"+keySID[2:], "api_key_secret", keySecret), "api_key_sid",
			[]string{`"SK" followed by 32 hexadecimal characters`}},
		{"api key secret not alphanumeric", obj("account_sid", sid, "api_key_sid", keySID, "api_key_secret", "a/b"), "api_key_secret", []string{"letters or digits"}},
		{"typo acount_sid", obj("acount_sid", sid, "auth_token", token), "acount_sid",
			[]string{`no key "acount_sid"`, `did you mean "account_sid"?`, "account_sid, auth_token, api_key_sid, api_key_secret"}},
		{"typo authtoken", obj("account_sid", sid, "authtoken", token), "authtoken", []string{`did you mean "auth_token"?`}},
		{"plivo keys", obj("auth_id", "MA0123456789ABCDEF01", "auth_token", token), "auth_id", []string{`no key "auth_id"`}},
		{"number value", `{"account_sid":"` + sid + `","auth_token":12345}`, "auth_token", []string{"must be a string, not a number"}},
		{"null", `null`, "", []string{"Twilio credentials must be a JSON object with the keys account_sid, auth_token, api_key_sid, api_key_secret"}},
		{"array", `[]`, "", []string{"JSON object", "got an array"}},
		{"string", `"` + sid + `"`, "", []string{"JSON object", "got a string"}},
		{"number", `1`, "", []string{"got a number"}},
		{"invalid JSON", `{"account_sid":"` + sid, "", []string{"got invalid JSON"}},
		{"empty input", ``, "", []string{"got nothing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parse(tt.doc)
			if err == nil {
				t.Fatalf("ParseCredentials succeeded: %v", c)
			}
			var fe *carriers.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is %T, want *carriers.FieldError", err, err)
			}
			if fe.Field != tt.wantField {
				t.Errorf("Field = %q, want %q (%s)", fe.Field, tt.wantField, fe.Message)
			}
			for _, part := range tt.wantMsg {
				if !strings.Contains(fe.Error(), part) {
					t.Errorf("message %q does not contain %q", fe.Error(), part)
				}
			}
		})
	}
}

// TestErrorsNeverContainValues puts a distinctive secret in every position a mistake can occur.
func TestErrorsNeverContainValues(t *testing.T) {
	const secret = "Zq7SuperSecretTokenValue42"
	docs := []string{
		`{"account_sid":"` + secret + `","auth_token":"` + token + `"}`,
		`{"account_sid":"AC` + secret + `","auth_token":"` + token + `"}`,
		`{"account_sid":"` + sid + `","auth_token":"` + secret + `!"}`,
		`{"account_sid":"` + sid + `","auth_token":"` + secret + `","api_key_sid":"` + keySID + `"}`,
		`{"account_sid":"` + sid + `","api_key_secret":"` + secret + `"}`,
		`{"account_sid":"` + sid + `","api_key_sid":"` + secret + `","api_key_secret":"` + secret + `"}`,
		`{"acount_sid":"` + sid + `","auth_tokn":"` + secret + `"}`,
		`{"auth_token":"` + secret + `"}`,
		`{"account_sid":"` + sid + `","auth_token":["` + secret + `"]}`,
		`"` + secret + `"`,
		`{"auth_token":"` + secret,
	}
	for _, doc := range docs {
		_, err := parse(doc)
		if err == nil {
			t.Fatalf("ParseCredentials(%s) succeeded", doc)
		}
		if msg := err.Error(); strings.Contains(msg, secret) || strings.Contains(msg, "SuperSecret") {
			t.Errorf("ParseCredentials(%s): message %q contains the submitted secret", doc, msg)
		}
	}
}

func TestFormattingRedactsSecrets(t *testing.T) {
	for _, doc := range []string{tokenDoc, apiKeyDoc} {
		c, _ := parse(doc)
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			out := fmt.Sprintf(verb, c)
			if strings.Contains(out, token) || strings.Contains(out, keySecret) {
				t.Errorf("fmt %s = %q shows a secret", verb, out)
			}
			if !strings.Contains(out, "AC…9f2c") {
				t.Errorf("fmt %s = %q does not show the hint", verb, out)
			}
		}
	}
}

func FuzzParseCredentials(f *testing.F) {
	carriertest.FuzzParseCredentials(f, twilio.Carrier{},
		[]byte(tokenDoc),
		[]byte(apiKeyDoc),
		[]byte(`{"account_sid":"`+sid+`","auth_token":"`+token+`","api_key_sid":"`+keySID+`"}`),
		[]byte(`{"acount_sid":"`+sid+`"}`),
		[]byte(`{"account_sid":" `+sid+` ","auth_token":"\u0041b"}`),
		[]byte(`{"account_sid":"`+sid+`","auth_token":"`+token+`","auth_token":"x"}`),
	)
}
