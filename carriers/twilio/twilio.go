// Package twilio is the Twilio carrier plugin. Importing it (usually blank) registers the carrier
// "twilio".
//
// Credentials take one of two shapes, both with the account's SID:
//
//	{"account_sid": "AC…", "auth_token": "…"}                              // the account's Auth Token
//	{"account_sid": "AC…", "api_key_sid": "SK…", "api_key_secret": "…"}    // a standard API key
//
// Twilio's SDKs check tokens and secrets only for being alphanumeric, and so does this plugin.
package twilio

import (
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/switchboard-dev/switchboard/carriers"
)

// ID is the registry id of this plugin.
const ID = "twilio"

const displayName = "Twilio"

// Credential keys.
const (
	keyAccountSID   = "account_sid"
	keyAuthToken    = "auth_token"
	keyAPIKeySID    = "api_key_sid"
	keyAPIKeySecret = "api_key_secret"
)

var fields = []carriers.FieldSpec{
	{
		Name:        keyAccountSID,
		Label:       "Account SID",
		Description: "Your Twilio Account SID from the Console dashboard; it starts with AC.",
		Required:    true,
		Pattern:     `^AC[0-9a-fA-F]{32}$`,
		Example:     "AC0123456789abcdef0123456789abcdef",
	},
	{
		Name:        keyAuthToken,
		Label:       "Auth Token",
		Description: "The Auth Token shown under the Account SID in the Console; leave it empty when you use an API key instead.",
		Secret:      true,
		Pattern:     `^[A-Za-z0-9]+$`,
		Example:     "0123456789abcdef0123456789abcdef",
	},
	{
		Name:        keyAPIKeySID,
		Label:       "API Key SID",
		Description: "Instead of the Auth Token: the SID of a standard API key (it starts with SK), given together with its secret.",
		Pattern:     `^SK[0-9a-fA-F]{32}$`,
		Example:     "SK0123456789abcdef0123456789abcdef",
	},
	{
		Name:        keyAPIKeySecret,
		Label:       "API Key Secret",
		Description: "The secret Twilio showed once when the API key was created, given together with the API key SID.",
		Secret:      true,
		Pattern:     `^[A-Za-z0-9]+$`,
		Example:     "AbCdEf0123456789AbCdEf0123456789",
	},
}

// shapes is how every shape error explains what is accepted.
const shapes = "give either auth_token, or api_key_sid together with api_key_secret (not both)"

func init() { carriers.Register(Carrier{}) }

// Carrier is the Twilio plugin.
type Carrier struct{}

// Info describes the plugin and its credential fields.
func (Carrier) Info() carriers.Info {
	return carriers.Info{ID: ID, DisplayName: displayName, CredentialFields: append([]carriers.FieldSpec(nil), fields...)}
}

// ParseCredentials parses either credentials shape into a [Credentials]. Errors are
// *carriers.FieldError.
func (Carrier) ParseCredentials(raw json.RawMessage) (carriers.Credentials, error) {
	m, err := carriers.DecodeFields(raw, displayName, fields)
	if err != nil {
		return nil, err
	}
	c := Credentials{
		AccountSID:   m[keyAccountSID],
		AuthToken:    m[keyAuthToken],
		APIKeySID:    m[keyAPIKeySID],
		APIKeySecret: m[keyAPIKeySecret],
	}
	hasToken, hasSID, hasSecret := c.AuthToken != "", c.APIKeySID != "", c.APIKeySecret != ""
	switch {
	case hasToken && hasSID && hasSecret:
		return nil, &carriers.FieldError{Field: keyAuthToken, Message: fmt.Sprintf(
			"Twilio credentials cannot have auth_token together with an API key: %s", shapes)}
	case hasToken && (hasSID || hasSecret):
		extra := keyAPIKeySID
		if hasSecret {
			extra = keyAPIKeySecret
		}
		return nil, &carriers.FieldError{Field: extra, Message: fmt.Sprintf(
			"Twilio credentials cannot have %s together with auth_token: %s", extra, shapes)}
	case hasSID && !hasSecret:
		return nil, &carriers.FieldError{Field: keyAPIKeySecret, Message: fmt.Sprintf(
			"api_key_secret (API Key Secret) is required with api_key_sid: %s", shapes)}
	case hasSecret && !hasSID:
		return nil, &carriers.FieldError{Field: keyAPIKeySID, Message: fmt.Sprintf(
			"api_key_sid (API Key SID) is required with api_key_secret: %s", shapes)}
	case !hasToken && !hasSID:
		return nil, &carriers.FieldError{Field: keyAuthToken, Message: fmt.Sprintf(
			"auth_token (Auth Token) is required unless an API key is used: %s", shapes)}
	}
	return c, nil
}

// Credentials are a Twilio account's credentials: AccountSID plus either AuthToken or the
// APIKeySID/APIKeySecret pair. Requests authenticate with Basic auth as AccountSID:AuthToken or
// APIKeySID:APIKeySecret (see [Credentials.BasicAuth]).
type Credentials struct {
	AccountSID   string `json:"account_sid"`
	AuthToken    string `json:"auth_token,omitempty"`
	APIKeySID    string `json:"api_key_sid,omitempty"`
	APIKeySecret string `json:"api_key_secret,omitempty"`
}

// Hint returns "AC…" and the last four characters of the Account SID.
func (c Credentials) Hint() string { return carriers.MaskHint(c.AccountSID, 2, 4) }

// UsesAPIKey reports whether these are the API-key shape.
func (c Credentials) UsesAPIKey() bool { return c.APIKeySID != "" }

// BasicAuth returns the user name and password for HTTP Basic auth against Twilio's API.
func (c Credentials) BasicAuth() (user, password string) {
	if c.UsesAPIKey() {
		return c.APIKeySID, c.APIKeySecret
	}
	return c.AccountSID, c.AuthToken
}

// String describes the credentials without their secrets, so logging them is safe.
func (c Credentials) String() string {
	if c.UsesAPIKey() {
		return fmt.Sprintf("twilio credentials %s (API key %s, secret redacted)", c.Hint(), carriers.MaskHint(c.APIKeySID, 2, 4))
	}
	return fmt.Sprintf("twilio credentials %s (auth token redacted)", c.Hint())
}

// GoString is String, so %#v does not print secrets either.
func (c Credentials) GoString() string { return c.String() }

// LogValue keeps secrets out of log/slog output.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }
