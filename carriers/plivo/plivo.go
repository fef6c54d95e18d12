// Package plivo is the Plivo carrier plugin. Importing it (usually blank) registers the carrier
// "plivo".
//
// Credentials are {"auth_id": "MA…", "auth_token": "…"}: the Auth ID is "MA" (main account) or
// "SA" (subaccount) followed by 18 upper-case letters or digits; Plivo's SDKs do not check the
// token's format, so neither does this plugin.
//
// Calls are placed with POST /v1/Account/{auth_id}/Call/ (Basic auth, JSON) and followed through
// ring_url and hangup_url, both set to the request's StatusCallbackURL. Numbers are sent without
// E.164's leading "+": Plivo's API reference gives from and to as "the country code followed by
// the number" (14157654321) and its SDK examples use digits only, so that is the documented form.
// Callbacks are checked with Plivo's V3 signature (see [Carrier.ParseStatusCallback]).
package plivo

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

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

// DefaultBaseURL is Plivo's API.
const DefaultBaseURL = "https://api.plivo.com"

// Carrier is the Plivo plugin. Its zero value talks to [DefaultBaseURL] with the default
// timeouts.
type Carrier struct {
	BaseURL string        // API base without a trailing slash; "" = DefaultBaseURL
	Timeout time.Duration // bound on each API request; 0 = carriers.DefaultCallTimeout / DefaultVerifyTimeout
}

// WithBaseURL returns a copy of the plugin that talks to base.
func (c Carrier) WithBaseURL(base string) carriers.Carrier { c.BaseURL = base; return c }

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

// Originate places a call with one POST to /v1/Account/{auth_id}/Call/; the result's
// ProviderCallID is Plivo's request_uuid.
func (c Carrier) Originate(ctx context.Context, creds carriers.Credentials, r carriers.OriginateRequest) (carriers.OriginateResult, error) {
	return c.wire().Originate(ctx, creds, r)
}

// VerifyCredentials fetches the account (GET /v1/Account/{auth_id}/).
func (c Carrier) VerifyCredentials(ctx context.Context, creds carriers.Credentials) error {
	return c.wire().VerifyCredentials(ctx, creds)
}

// ParseStatusCallback checks the X-Plivo-Signature-V3 header (with its -Nonce) against creds'
// Auth Token and reads the ring or hangup callback. The signed text is built as Plivo's SDKs
// build it for a POST (plivo-go utils.go GenerateUrl and ComputeSignatureV3, plivo-python
// utils/signature_v3.py construct_post_url): scheme://host/path; then "?" when the URL has a
// query or the body has parameters; the query's parameters sorted by name as name=value joined
// with "&"; "." when there are both; the body's parameters sorted by name as name followed by
// value, with no separators; then "." and the nonce. The header may hold several
// comma-separated signatures; one match is enough.
func (c Carrier) ParseStatusCallback(r *http.Request, callbackURL string, creds carriers.Credentials) (carriers.StatusEvent, error) {
	return c.wire().ParseStatusCallback(r, callbackURL, creds)
}

func (c Carrier) wire() carriers.PlivoStyle { return style.With(c.BaseURL, c.Timeout) }

// style is Plivo's wire format, at its default base URL.
var style = carriers.PlivoStyle{
	Carrier:    ID,
	BaseURL:    DefaultBaseURL,
	CallPath:   "/v1/Account/{auth_id}/Call/",
	VerifyPath: "/v1/Account/{auth_id}/",
	StripPlus:  true,
	Account: func(creds carriers.Credentials) (string, string, bool) {
		p, ok := creds.(Credentials)
		return p.AuthID, p.AuthToken, ok
	},
	Authorize: func(req *http.Request, authID, authToken string) {
		req.SetBasicAuth(authID, authToken)
	},
	SignatureHeader: "X-Plivo-Signature-V3",
	NonceHeader:     "X-Plivo-Signature-V3-Nonce",
	SignedText:      SignedTextV3,
}

// SignedTextV3 returns the text Plivo's V3 signature covers for a POST callback to callbackURL
// with form (before "." and the nonce; see [Carrier.ParseStatusCallback]). The SDKs differ in one
// detail, whether query values are percent-decoded (Python) or kept raw (Go), so when the two
// differ both texts are returned.
func SignedTextV3(callbackURL string, form url.Values) []string {
	u, err := url.Parse(callbackURL)
	if err != nil {
		return nil
	}
	base := u.Scheme + "://" + u.Host + u.EscapedPath()
	params := carriers.ConcatSorted(form)
	decoded, _ := url.ParseQuery(u.RawQuery)
	var out []string
	for _, q := range []string{joinQuery(rawQuery(u.RawQuery)), joinQuery(decoded)} {
		s := base
		if q != "" || params != "" {
			s += "?" + q
		}
		if q != "" && params != "" {
			s += "."
		}
		s += params
		if len(out) == 0 || out[0] != s {
			out = append(out, s)
		}
	}
	return out
}

// rawQuery splits a query as plivo-go does: pairs with exactly one "=", values not decoded,
// the last of a repeated name kept.
func rawQuery(q string) url.Values {
	out := url.Values{}
	pairs := strings.Split(q, "&")
	slices.Sort(pairs)
	for _, p := range pairs {
		if kv := strings.Split(p, "="); len(kv) == 2 {
			out[kv[0]] = []string{kv[1]}
		}
	}
	return out
}

// joinQuery writes name=value pairs sorted by name (then value), joined with "&".
func joinQuery(q url.Values) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(q)) {
		for _, v := range slices.Sorted(slices.Values(q[k])) {
			parts = append(parts, k+"="+v)
		}
	}
	return strings.Join(parts, "&")
}
