// Package vobiz is the Vobiz carrier plugin. Importing it (usually blank) registers the carrier
// "vobiz".
//
// Credentials are {"auth_id": "MA_…", "auth_token": "…"}. Vobiz publishes no length for Auth IDs,
// so only the "MA_" (main account) or "SA_" (subaccount) prefix and the letters-and-digits body
// are checked; the token's format is not checked at all.
//
// Vobiz copied Plivo's Voice API, so this plugin is [carriers.PlivoStyle] with Vobiz's paths
// (POST /api/v1/Account/{auth_id}/Call/), its X-Auth-ID / X-Auth-Token headers and its
// X-Vobiz-Signature-V3 callback signature. Numbers keep E.164's "+", as in Vobiz's own examples.
package vobiz

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

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

// DefaultBaseURL is Vobiz's API.
const DefaultBaseURL = "https://api.vobiz.ai"

// Carrier is the Vobiz plugin. Its zero value talks to [DefaultBaseURL] with the default
// timeouts.
type Carrier struct {
	BaseURL string        // API base without a trailing slash; "" = DefaultBaseURL
	Timeout time.Duration // bound on each API request; 0 = carriers.DefaultCallTimeout / DefaultVerifyTimeout
}

// WithBaseURL returns a copy of the plugin that talks to base.
func (c Carrier) WithBaseURL(base string) carriers.Carrier { c.BaseURL = base; return c }

// Originate places a call with one POST to /api/v1/Account/{auth_id}/Call/; the result's
// ProviderCallID is Vobiz's request_uuid.
func (c Carrier) Originate(ctx context.Context, creds carriers.Credentials, r carriers.OriginateRequest) (carriers.OriginateResult, error) {
	return c.wire().Originate(ctx, creds, r)
}

// VerifyCredentials asks who the credentials belong to (GET /api/v1/auth/me).
func (c Carrier) VerifyCredentials(ctx context.Context, creds carriers.Credentials) error {
	return c.wire().VerifyCredentials(ctx, creds)
}

// ParseStatusCallback checks the X-Vobiz-Signature-V3 header (with its -Nonce) against creds'
// Auth Token and reads the callback. Vobiz signs only the callback URL without its query,
// scheme://host[:port]/path, followed by "." and the nonce: the body is not signed.
func (c Carrier) ParseStatusCallback(r *http.Request, callbackURL string, creds carriers.Credentials) (carriers.StatusEvent, error) {
	return c.wire().ParseStatusCallback(r, callbackURL, creds)
}

func (c Carrier) wire() carriers.PlivoStyle { return style.With(c.BaseURL, c.Timeout) }

// style is Vobiz's wire format, at its default base URL.
var style = carriers.PlivoStyle{
	Carrier:    ID,
	BaseURL:    DefaultBaseURL,
	CallPath:   "/api/v1/Account/{auth_id}/Call/",
	VerifyPath: "/api/v1/auth/me",
	Account: func(creds carriers.Credentials) (string, string, bool) {
		v, ok := creds.(Credentials)
		return v.AuthID, v.AuthToken, ok
	},
	Authorize: func(req *http.Request, authID, authToken string) {
		req.Header.Set("X-Auth-ID", authID)
		req.Header.Set("X-Auth-Token", authToken)
	},
	SignatureHeader: "X-Vobiz-Signature-V3",
	NonceHeader:     "X-Vobiz-Signature-V3-Nonce",
	SignedText: func(callbackURL string, _ url.Values) []string {
		base, _, _ := strings.Cut(callbackURL, "#")
		base, _, _ = strings.Cut(base, "?")
		return []string{base}
	},
}

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
