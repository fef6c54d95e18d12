package vobiz_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/switchboard-dev/switchboard/carriers"
	"github.com/switchboard-dev/switchboard/carriers/carriertest"
	"github.com/switchboard-dev/switchboard/carriers/vobiz"
)

const (
	authID = "MA_7Hq2Lk9Zr4Wx8abcd"
	token  = "vbz_live_6f2b9c1e-0d4a-4b7e-9a11-2f3c5d7e9b0a"
)

var validDoc = `{"auth_id":"` + authID + `","auth_token":"` + token + `"}`

func parse(doc string) (carriers.Credentials, error) {
	return vobiz.Carrier{}.ParseCredentials(json.RawMessage(doc))
}

func TestRegistered(t *testing.T) {
	c, ok := carriers.Lookup("vobiz")
	if !ok {
		t.Fatal(`carriers.Lookup("vobiz") found nothing`)
	}
	if info := c.Info(); info.ID != vobiz.ID || info.DisplayName != "Vobiz" {
		t.Errorf("Info() = %q %q", info.ID, info.DisplayName)
	}
}

func TestConformance(t *testing.T) {
	carriertest.Conformance(t, vobiz.Carrier{}, json.RawMessage(validDoc),
		json.RawMessage(`{"auth_id":"SA_x","auth_token":"t"}`))
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name     string
		doc      string
		want     vobiz.Credentials
		wantHint string
	}{
		{"main account", validDoc, vobiz.Credentials{AuthID: authID, AuthToken: token}, "MA_…abcd"},
		{"subaccount", `{"auth_id":"SA_0123456789","auth_token":"x"}`, vobiz.Credentials{AuthID: "SA_0123456789", AuthToken: "x"}, "SA_…789"},
		{"shortest id", `{"auth_id":"MA_x","auth_token":"x"}`, vobiz.Credentials{AuthID: "MA_x", AuthToken: "x"}, "MA…"},
		{"long id", `{"auth_id":"MA_` + strings.Repeat("Ab9", 30) + `","auth_token":"x"}`,
			vobiz.Credentials{AuthID: "MA_" + strings.Repeat("Ab9", 30), AuthToken: "x"}, "MA_…9Ab9"},
		{"surrounding whitespace", `{"auth_id":"  ` + authID + `","auth_token":"` + token + `\r\n"}`,
			vobiz.Credentials{AuthID: authID, AuthToken: token}, "MA_…abcd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(tt.doc)
			if err != nil {
				t.Fatalf("ParseCredentials: %v", err)
			}
			c, ok := got.(vobiz.Credentials)
			if !ok {
				t.Fatalf("credentials are %T, want vobiz.Credentials", got)
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
		{"empty object", `{}`, "auth_id", []string{"auth_id (Auth ID) is required", `"MA_" or "SA_" followed by one or more letters or digits`}},
		{"missing auth_token", `{"auth_id":"` + authID + `"}`, "auth_token", []string{"auth_token (Auth Token) is required"}},
		{"null auth_token", `{"auth_id":"` + authID + `","auth_token":null}`, "auth_token", []string{"is required"}},
		{"missing underscore (Plivo style)", `{"auth_id":"MA0123456789ABCDEF01","auth_token":"t"}`, "auth_id", []string{"is not valid"}},
		{"wrong prefix", `{"auth_id":"XA_abc","auth_token":"t"}`, "auth_id", []string{"is not valid"}},
		{"lower-case prefix", `{"auth_id":"ma_abc","auth_token":"t"}`, "auth_id", []string{"is not valid"}},
		{"prefix only", `{"auth_id":"MA_","auth_token":"t"}`, "auth_id", []string{"is not valid", "has 3 characters"}},
		{"punctuation in body", `{"auth_id":"MA_abc-def","auth_token":"t"}`, "auth_id", []string{"letters or digits"}},
		{"typo key", `{"authid":"` + authID + `","auth_token":"t"}`, "authid", []string{`did you mean "auth_id"?`}},
		{"acount_sid", `{"acount_sid":"x"}`, "acount_sid", []string{`no key "acount_sid"`, "auth_id, auth_token"}},
		{"bool value", `{"auth_id":true,"auth_token":"t"}`, "auth_id", []string{"must be a string, not a boolean"}},
		{"null", `null`, "", []string{"Vobiz credentials must be a JSON object with the keys auth_id, auth_token"}},
		{"number", `7`, "", []string{"got a number"}},
		{"invalid JSON", `{"auth_id":"MA_x",}`, "", []string{"got invalid JSON"}},
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
		`{"auth_id":"MA_` + secret + `!","auth_token":"t"}`,
		`{"auth_token":"` + secret + `"}`,
		`{"auth_id":"` + authID + `","authtoken":"` + secret + `"}`,
		`{"auth_id":"` + authID + `","auth_token":["` + secret + `"]}`,
		`"` + secret + `"`,
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
		if out := fmt.Sprintf(verb, c); strings.Contains(out, token) || !strings.Contains(out, "MA_…abcd") {
			t.Errorf("fmt %s = %q", verb, out)
		}
	}
}

func FuzzParseCredentials(f *testing.F) {
	carriertest.FuzzParseCredentials(f, vobiz.Carrier{},
		[]byte(validDoc),
		[]byte(`{"auth_id":"SA_x","auth_token":"  t  "}`),
		[]byte(`{"auth_id":"MA_","auth_token":"t"}`),
		[]byte(`{"authid":"`+authID+`"}`),
		[]byte(`{"auth_id":"MA_\u00e9","auth_token":"t"}`),
	)
}
