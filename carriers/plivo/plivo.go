// Package plivo is the Plivo carrier plugin. Importing it (usually blank) registers the carrier
// "plivo".
//
// Credentials are {"auth_id": "MA…", "auth_token": "…"}: the Auth ID is "MA" (main account) or
// "SA" (subaccount) followed by 18 upper-case letters or digits; Plivo's SDKs do not check the
// token's format, so neither does this plugin.
package plivo

import (
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/switchboard-dev/switchboard/carriers"
)

// ID is the registry id of this plugin.
const ID = "plivo"

const displayName = "Plivo"

var fields = []carriers.FieldSpec{
	{
		Name:        "auth_id",
		Label:       "Auth ID",
		Description: "The Auth ID from the overview page of the Plivo console; it starts with MA (main account) or SA (subaccount).",
		Required:    true,
		Pattern:     `^(MA|SA)[A-Z0-9]{18}$`,
		Example:     "MA0123456789ABCDEF01",
	},
	{
		Name:        "auth_token",
		Label:       "Auth Token",
		Description: "The Auth Token shown next to the Auth ID in the Plivo console.",
		Secret:      true,
		Required:    true,
		Example:     "ZmFrZS1wbGl2by1hdXRoLXRva2Vu",
	},
}

func init() { carriers.Register(Carrier{}) }

// Carrier is the Plivo plugin.
type Carrier struct{}

// Info describes the plugin and its credential fields.
func (Carrier) Info() carriers.Info {
	return carriers.Info{ID: ID, DisplayName: displayName, CredentialFields: append([]carriers.FieldSpec(nil), fields...)}
}

// ParseCredentials parses a credentials document into [Credentials]. Errors are
// *carriers.FieldError.
func (Carrier) ParseCredentials(raw json.RawMessage) (carriers.Credentials, error) {
	m, err := carriers.DecodeFields(raw, displayName, fields)
	if err != nil {
		return nil, err
	}
	return Credentials{AuthID: m["auth_id"], AuthToken: m["auth_token"]}, nil
}

// Credentials are a Plivo account's (or subaccount's) Auth ID and Auth Token, used as the user
// name and password of HTTP Basic auth.
type Credentials struct {
	AuthID    string `json:"auth_id"`
	AuthToken string `json:"auth_token"`
}

// Hint returns the Auth ID's "MA"/"SA" prefix and its last four characters, e.g. "MA…WXYZ".
func (c Credentials) Hint() string { return carriers.MaskHint(c.AuthID, 2, 4) }

// String describes the credentials without the token, so logging them is safe.
func (c Credentials) String() string {
	return fmt.Sprintf("plivo credentials %s (auth token redacted)", c.Hint())
}

// GoString is String, so %#v does not print the token either.
func (c Credentials) GoString() string { return c.String() }

// LogValue keeps the token out of log/slog output.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }
