// Package vobiz is the Vobiz carrier plugin. Importing it (usually blank) registers the carrier
// "vobiz".
//
// Credentials are {"auth_id": "MA_…", "auth_token": "…"}. Vobiz publishes no length for Auth IDs,
// so only the "MA_" (main account) or "SA_" (subaccount) prefix and the letters-and-digits body
// are checked; the token's format is not checked at all.
package vobiz

import (
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/switchboard-dev/switchboard/carriers"
)

// ID is the registry id of this plugin.
const ID = "vobiz"

const displayName = "Vobiz"

var fields = []carriers.FieldSpec{
	{
		Name:        "auth_id",
		Label:       "Auth ID",
		Description: "The Auth ID from the Vobiz console; it starts with MA_ (main account) or SA_ (subaccount).",
		Required:    true,
		Pattern:     `^(MA|SA)_[A-Za-z0-9]+$`,
		Example:     "MA_ABCD1234",
	},
	{
		Name:        "auth_token",
		Label:       "Auth Token",
		Description: "The Auth Token shown next to the Auth ID in the Vobiz console.",
		Secret:      true,
		Required:    true,
		Example:     "vobiz-example-auth-token",
	},
}

func init() { carriers.Register(Carrier{}) }

// Carrier is the Vobiz plugin.
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

// Credentials are a Vobiz account's Auth ID and Auth Token, sent as the X-Auth-ID and
// X-Auth-Token headers.
type Credentials struct {
	AuthID    string `json:"auth_id"`
	AuthToken string `json:"auth_token"`
}

// Hint returns the Auth ID's "MA_"/"SA_" prefix and its last four characters, e.g. "MA_…abcd"
// (fewer for a short id, so at least half of it stays hidden).
func (c Credentials) Hint() string { return carriers.MaskHint(c.AuthID, 3, 4) }

// String describes the credentials without the token, so logging them is safe.
func (c Credentials) String() string {
	return fmt.Sprintf("vobiz credentials %s (auth token redacted)", c.Hint())
}

// GoString is String, so %#v does not print the token either.
func (c Credentials) GoString() string { return c.String() }

// LogValue keeps the token out of log/slog output.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }
