package carriers

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

var testSpecs = []FieldSpec{
	{Name: "account_sid", Label: "Account SID", Required: true, Pattern: `^AC[0-9a-fA-F]{32}$`, Example: "AC0123456789abcdef0123456789abcdef"},
	{Name: "auth_token", Label: "Auth Token", Secret: true, Required: true, Example: "token"},
	{Name: "region", Label: "Region", Pattern: `^[a-z]{2}[0-9]$`, Example: "us1"},
}

const sid = "AC0123456789abcdef0123456789abcdef"

func TestDecodeFieldsAccepts(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want map[string]string
	}{
		{"required only", `{"account_sid":"` + sid + `","auth_token":"tok"}`,
			map[string]string{"account_sid": sid, "auth_token": "tok"}},
		{"trims whitespace", "  {\"account_sid\":\" \\t" + sid + "\\n\",\"auth_token\":\"  tok en \"}  ",
			map[string]string{"account_sid": sid, "auth_token": "tok en"}},
		{"optional given", `{"region":"eu2","account_sid":"` + sid + `","auth_token":"tok"}`,
			map[string]string{"account_sid": sid, "auth_token": "tok", "region": "eu2"}},
		{"optional null is not given", `{"region":null,"account_sid":"` + sid + `","auth_token":"tok"}`,
			map[string]string{"account_sid": sid, "auth_token": "tok"}},
		{"optional blank is not given", `{"region":"  ","account_sid":"` + sid + `","auth_token":"tok"}`,
			map[string]string{"account_sid": sid, "auth_token": "tok"}},
		{"unicode escapes", `{"account_sid":"\u0041C0123456789abcdef0123456789abcdef","auth_token":"t\u00f6k"}`,
			map[string]string{"account_sid": sid, "auth_token": "tök"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeFields(json.RawMessage(tt.doc), "Test", testSpecs)
			if err != nil {
				t.Fatalf("DecodeFields: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDecodeFieldsRejects(t *testing.T) {
	const keys = "account_sid, auth_token, region"
	tests := []struct {
		name      string
		doc       string
		wantField string
		wantMsg   []string // parts the message must contain
	}{
		{"empty", ``, "", []string{"Test credentials must be a JSON object with the keys " + keys, "got nothing"}},
		{"whitespace", " \n ", "", []string{"JSON object", "got nothing"}},
		{"null", `null`, "", []string{"JSON object with the keys " + keys, "got null"}},
		{"array", `["account_sid"]`, "", []string{"JSON object", "got an array"}},
		{"string", `"AC0123"`, "", []string{"JSON object", "got a string"}},
		{"number", `12`, "", []string{"JSON object", "got a number"}},
		{"boolean", `false`, "", []string{"JSON object", "got a boolean"}},
		{"invalid JSON", `{"account_sid":`, "", []string{"JSON object", "got invalid JSON"}},
		{"trailing data", `{} {}`, "", []string{"got invalid JSON"}},
		{"single quotes", `{'account_sid':'x'}`, "", []string{"got invalid JSON"}},
		{"typo key", `{"acount_sid":"` + sid + `","auth_token":"tok"}`, "acount_sid",
			[]string{`no key "acount_sid"`, `did you mean "account_sid"?`, "accepted keys are " + keys}},
		{"camelCase key", `{"accountSid":"` + sid + `","auth_token":"tok"}`, "accountSid",
			[]string{`did you mean "account_sid"?`}},
		{"upper-case key", `{"ACCOUNT_SID":"` + sid + `","auth_token":"tok"}`, "ACCOUNT_SID",
			[]string{`did you mean "account_sid"?`}},
		{"unrelated key, no suggestion", `{"password":"x"}`, "password",
			[]string{`no key "password"`, "accepted keys are " + keys}},
		{"empty key", `{"":"x"}`, "", []string{`no key ""`}},
		{"unknown key reported before a missing one", `{"zzz":"1"}`, "zzz", []string{`no key "zzz"`}},
		{"unknown key after a bad value", `{"account_sid":"bad","extra":1}`, "extra", []string{`no key "extra"`}},
		{"repeated key", `{"account_sid":"` + sid + `","account_sid":"` + sid + `","auth_token":"t"}`, "account_sid",
			[]string{"more than once"}},
		{"number value", `{"account_sid":123,"auth_token":"tok"}`, "account_sid",
			[]string{"account_sid (Account SID) must be a string, not a number"}},
		{"object value", `{"account_sid":"` + sid + `","auth_token":{"v":"tok"}}`, "auth_token",
			[]string{"must be a string, not an object"}},
		{"array value", `{"account_sid":["` + sid + `"],"auth_token":"tok"}`, "account_sid", []string{"not an array"}},
		{"bool value", `{"account_sid":"` + sid + `","auth_token":true}`, "auth_token", []string{"not a boolean"}},
		{"missing required", `{"auth_token":"tok"}`, "account_sid",
			[]string{`account_sid (Account SID) is required: expected "AC" followed by 32 hexadecimal characters`}},
		{"null required", `{"account_sid":null,"auth_token":"tok"}`, "account_sid", []string{"is required"}},
		{"blank required", `{"account_sid":"   ","auth_token":"tok"}`, "account_sid", []string{"is empty but required"}},
		{"missing required without pattern", `{"account_sid":"` + sid + `"}`, "auth_token",
			[]string{"auth_token (Auth Token) is required: expected any non-empty text"}},
		{"first spec reported first", `{}`, "account_sid", []string{"account_sid"}},
		{"pattern mismatch", `{"account_sid":"AC0123","auth_token":"tok"}`, "account_sid",
			[]string{`account_sid (Account SID) is not valid: expected "AC" followed by 32 hexadecimal characters`, "has 6 characters"}},
		{"optional pattern mismatch", `{"account_sid":"` + sid + `","auth_token":"tok","region":"EU"}`, "region",
			[]string{"region (Region) is not valid: expected 2 lowercase letters followed by a digit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeFields(json.RawMessage(tt.doc), "Test", testSpecs)
			if err == nil {
				t.Fatalf("DecodeFields succeeded with %v", got)
			}
			if got != nil {
				t.Errorf("DecodeFields returned %v together with an error", got)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a *FieldError", err, err)
			}
			if fe.Field != tt.wantField {
				t.Errorf("Field = %q, want %q (message %q)", fe.Field, tt.wantField, fe.Message)
			}
			for _, part := range tt.wantMsg {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("message %q does not contain %q", err.Error(), part)
				}
			}
		})
	}
}

func TestDecodeFieldsNeverEchoesValues(t *testing.T) {
	const secret = "S3cr3t-Pa55w0rd-zebra-9f2c"
	secretSpecs := []FieldSpec{
		{Name: "account_sid", Label: "Account SID", Required: true, Pattern: `^AC[0-9a-fA-F]{32}$`, Example: sid},
		{Name: "auth_token", Label: "Auth Token", Secret: true, Required: true, Pattern: `^[a-z]+$`, Example: "abc"},
	}
	docs := []string{
		`{"account_sid":"` + secret + `","auth_token":"abc"}`,         // pattern mismatch, non-secret field
		`{"account_sid":"` + sid + `","auth_token":"` + secret + `"}`, // pattern mismatch, secret field
		`{"acount_sid":"` + secret + `"}`,                             // unknown key
		`{"account_sid":"` + sid + `","account_sid":"` + secret + `"}`,
		`"` + secret + `"`,
		`["` + secret + `"]`,
		`{"account_sid":["` + secret + `"]}`,
		`{"account_sid":{"v":"` + secret + `"}}`,
		`{"account_sid":"` + secret, // invalid JSON
	}
	for _, doc := range docs {
		_, err := DecodeFields(json.RawMessage(doc), "Test", secretSpecs)
		if err == nil {
			t.Fatalf("DecodeFields(%s) succeeded", doc)
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "zebra") {
			t.Errorf("DecodeFields(%s): message %q contains the submitted value", doc, err)
		}
	}
	// A secret field's message does not even give the length.
	_, err := DecodeFields(json.RawMessage(docs[1]), "Test", secretSpecs)
	if strings.Contains(err.Error(), "characters") && strings.Contains(err.Error(), "26") {
		t.Errorf("message %q reveals the secret's length", err)
	}
}

func TestDecodeFieldsLongUnknownKeyIsShortened(t *testing.T) {
	key := strings.Repeat("k", 500)
	_, err := DecodeFields(json.RawMessage(`{"`+key+`":"v"}`), "Test", testSpecs)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != key {
		t.Fatalf("err = %v, want a FieldError for the long key", err)
	}
	if len(fe.Message) > 300 {
		t.Errorf("message is %d bytes long; the key should be shortened", len(fe.Message))
	}
}

func TestDecodeFieldsTooLarge(t *testing.T) {
	doc := `{"auth_token":"` + strings.Repeat("a", maxDocumentSize) + `"}`
	_, err := DecodeFields(json.RawMessage(doc), "Test", testSpecs)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "" || !strings.Contains(fe.Message, "too large") {
		t.Fatalf("err = %v, want a document-level FieldError about size", err)
	}
}

func TestDecodeFieldsNoCarrierName(t *testing.T) {
	_, err := DecodeFields(json.RawMessage(`null`), "", testSpecs)
	if err == nil || !strings.HasPrefix(err.Error(), "credentials must be a JSON object with the keys account_sid, auth_token, region") {
		t.Errorf("err = %v", err)
	}
}

func TestFieldErrorError(t *testing.T) {
	tests := []struct {
		err  *FieldError
		want string
	}{
		{&FieldError{Field: "a", Message: "a is bad"}, "a is bad"},
		{&FieldError{Field: "a"}, `invalid credential field "a"`},
		{&FieldError{}, "invalid credentials"},
		{nil, "<nil>"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestMaskHint(t *testing.T) {
	tests := []struct {
		id           string
		prefix, keep int
		want         string
	}{
		{sid, 2, 4, "AC…cdef"},
		{"AC0123456789abcdef0123456789ab9f2c", 2, 4, "AC…9f2c"},
		{"MA0123456789ABCDWXYZ", 2, 4, "MA…WXYZ"},
		{"MA_0123456789abcd", 3, 4, "MA_…abcd"},
		{"MA_abcdefgh", 3, 4, "MA_…gh"}, // 11 runes: at most 5 shown
		{"MA_ab", 3, 4, "MA…"},
		{"abcd", 2, 4, "ab…"},
		{"ab", 2, 4, "a…"},
		{"a", 2, 4, "…"},
		{"", 2, 4, ""},
		{"abcdefgh", 0, 0, "…"},
		{"abcdefgh", -1, -3, "…"},
		{"abcdefgh", 0, 3, "…fgh"},
		{"ÄÖÜäöüßéèê", 2, 2, "ÄÖ…èê"},
	}
	for _, tt := range tests {
		got := MaskHint(tt.id, tt.prefix, tt.keep)
		if got != tt.want {
			t.Errorf("MaskHint(%q, %d, %d) = %q, want %q", tt.id, tt.prefix, tt.keep, got, tt.want)
		}
		if tt.id != "" && !strings.Contains(got, "…") {
			t.Errorf("MaskHint(%q) = %q has no ellipsis", tt.id, got)
		}
		shown := utf8.RuneCountInString(got) - strings.Count(got, "…")
		if shown > max(tt.prefix, 0)+max(tt.keep, 0) || (tt.id != "" && shown > utf8.RuneCountInString(tt.id)/2) {
			t.Errorf("MaskHint(%q) = %q shows %d characters", tt.id, got, shown)
		}
	}
}

func TestDescribePattern(t *testing.T) {
	tests := []struct{ pattern, want string }{
		{``, "any non-empty text"},
		{`^AC[0-9a-fA-F]{32}$`, `"AC" followed by 32 hexadecimal characters`},
		{`^SK[0-9a-fA-F]{32}$`, `"SK" followed by 32 hexadecimal characters`},
		{`^(MA|SA)[A-Z0-9]{18}$`, `"MA" or "SA" followed by 18 uppercase letters or digits`},
		{`^(MA|SA)_[A-Za-z0-9]+$`, `"MA_" or "SA_" followed by one or more letters or digits`},
		{`^[A-Za-z0-9]+$`, "one or more letters or digits"},
		{`^\d{3,}$`, "at least 3 digits"},
		{`^[a-f0-9]{8,12}$`, "8 to 12 lowercase hexadecimal characters"},
		{`^x[a-z]?$`, `"x" followed by optionally a lowercase letter`},
		{`^.+$`, "one or more characters"},
		{`^[A-Z]$`, "an uppercase letter"},
		{`^[-.]+$`, `one or more characters from [\-\.]`},
		{`^(a+b)$`, `one or more repetitions of "a" followed by "b"`},
		{`^(ab|c(d|e)f)$`, `text matching the pattern ^(ab|c(d|e)f)$`},
	}
	for _, tt := range tests {
		if got := describePattern(tt.pattern); got != tt.want {
			t.Errorf("describePattern(%s) = %q, want %q", tt.pattern, got, tt.want)
		}
	}
}
