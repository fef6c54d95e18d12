package plivo_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/switchboard-dev/switchboard/carriers"
	"github.com/switchboard-dev/switchboard/carriers/carriertest"
	"github.com/switchboard-dev/switchboard/carriers/plivo"
)

const (
	authID = "MAODU0YTY5NTQ1ZDWXYZ"
	subID  = "SA0123456789ABCDEF01"
	token  = "ZmFrZS1wbGl2by1hdXRoLXRva2Vu/+=-_"
)

var validDoc = `{"auth_id":"` + authID + `","auth_token":"` + token + `"}`

func parse(doc string) (carriers.Credentials, error) {
	return plivo.Carrier{}.ParseCredentials(json.RawMessage(doc))
}

func TestRegistered(t *testing.T) {
	c, ok := carriers.Lookup("plivo")
	if !ok {
		t.Fatal(`carriers.Lookup("plivo") found nothing`)
	}
	if info := c.Info(); info.ID != plivo.ID || info.DisplayName != "Plivo" {
		t.Errorf("Info() = %q %q", info.ID, info.DisplayName)
	}
}

func TestConformance(t *testing.T) {
	carriertest.Conformance(t, plivo.Carrier{}, json.RawMessage(validDoc),
		json.RawMessage(`{"auth_id":"`+subID+`","auth_token":"t"}`))
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name     string
		doc      string
		want     plivo.Credentials
		wantHint string
	}{
		{"main account", validDoc, plivo.Credentials{AuthID: authID, AuthToken: token}, "MA…WXYZ"},
		{"subaccount", `{"auth_id":"` + subID + `","auth_token":"x"}`, plivo.Credentials{AuthID: subID, AuthToken: "x"}, "SA…EF01"},
		{"token with any characters", `{"auth_id":"` + authID + `","auth_token":"p@ss wörd!"}`,
			plivo.Credentials{AuthID: authID, AuthToken: "p@ss wörd!"}, "MA…WXYZ"},
		{"surrounding whitespace", `{"auth_id":" ` + authID + `\n","auth_token":"\t` + token + ` "}`,
			plivo.Credentials{AuthID: authID, AuthToken: token}, "MA…WXYZ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(tt.doc)
			if err != nil {
				t.Fatalf("ParseCredentials: %v", err)
			}
			c, ok := got.(plivo.Credentials)
			if !ok {
				t.Fatalf("credentials are %T, want plivo.Credentials", got)
			}
			if c.AuthID != tt.want.AuthID || c.AuthToken != tt.want.AuthToken {
				t.Errorf("got %q %q, want %q %q", c.AuthID, c.AuthToken, tt.want.AuthID, tt.want.AuthToken)
			}
			if h := c.Hint(); h != tt.wantHint {
				t.Errorf("Hint() = %q, want %q", h, tt.wantHint)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name      string
		doc       string
		wantField string
		wantMsg   []string
	}{
		{"empty object", `{}`, "auth_id", []string{"auth_id (Auth ID) is required", `"MA" or "SA" followed by 18 uppercase letters or digits`}},
		{"missing auth_id", `{"auth_token":"t"}`, "auth_id", []string{"is required"}},
		{"missing auth_token", `{"auth_id":"` + authID + `"}`, "auth_token", []string{"auth_token (Auth Token) is required"}},
		{"blank auth_token", `{"auth_id":"` + authID + `","auth_token":"   "}`, "auth_token", []string{"is empty but required"}},
		{"wrong prefix", `{"auth_id":"MX` + authID[2:] + `","auth_token":"t"}`, "auth_id", []string{"is not valid"}},
		{"Vobiz-style id", `{"auth_id":"MA_ABCDEFGHIJKLMNOPQ","auth_token":"t"}`, "auth_id", []string{"is not valid"}},
		{"too short", `{"auth_id":"` + authID[:19] + `","auth_token":"t"}`, "auth_id", []string{"has 19 characters"}},
		{"too long", `{"auth_id":"` + authID + `A","auth_token":"t"}`, "auth_id", []string{"has 21 characters"}},
		{"lower case", `{"auth_id":"` + strings.ToLower(authID) + `","auth_token":"t"}`, "auth_id", []string{"uppercase letters or digits"}},
		{"typo key", `{"auth_idd":"` + authID + `","auth_token":"t"}`, "auth_idd", []string{`did you mean "auth_id"?`, "auth_id, auth_token"}},
		{"Twilio keys", `{"account_sid":"x","auth_token":"t"}`, "account_sid", []string{`no key "account_sid"`}},
		{"acount_sid", `{"acount_sid":"x"}`, "acount_sid", []string{`no key "acount_sid"`}},
		{"number value", `{"auth_id":"` + authID + `","auth_token":42}`, "auth_token", []string{"must be a string, not a number"}},
		{"null", `null`, "", []string{"Plivo credentials must be a JSON object with the keys auth_id, auth_token"}},
		{"array", `[{"auth_id":"` + authID + `"}]`, "", []string{"got an array"}},
		{"string", `"x"`, "", []string{"got a string"}},
		{"invalid JSON", `{auth_id:1}`, "", []string{"got invalid JSON"}},
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

func TestErrorsNeverContainValues(t *testing.T) {
	const secret = "Zq7SuperSecretTokenValue42"
	docs := []string{
		`{"auth_id":"` + secret + `","auth_token":"t"}`,
		`{"auth_id":"MA` + secret + `","auth_token":"t"}`,
		`{"auth_token":"` + secret + `"}`,
		`{"auth_id":"` + authID + `","auth_tokne":"` + secret + `"}`,
		`{"auth_id":"` + authID + `","auth_token":{"t":"` + secret + `"}}`,
		`["` + secret + `"]`,
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

func TestFormattingRedactsToken(t *testing.T) {
	c, _ := parse(validDoc)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(verb, c); strings.Contains(out, token) || !strings.Contains(out, "MA…WXYZ") {
			t.Errorf("fmt %s = %q", verb, out)
		}
	}
}

func FuzzParseCredentials(f *testing.F) {
	carriertest.FuzzParseCredentials(f, plivo.Carrier{},
		[]byte(validDoc),
		[]byte(`{"auth_id":"`+subID+`","auth_token":" x "}`),
		[]byte(`{"auth_id":"MA0123","auth_token":"x"}`),
		[]byte(`{"auth_idd":"`+authID+`"}`),
		[]byte(`{"auth_id":"`+authID+`","auth_token":null}`),
	)
}
