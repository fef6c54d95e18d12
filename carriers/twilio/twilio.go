// Package twilio is the Twilio carrier plugin. Importing it (usually blank) registers the carrier
// "twilio".
//
// Credentials take one of two shapes, both with the account's SID:
//
//	{"account_sid": "AC…", "auth_token": "…"}                              // the account's Auth Token
//	{"account_sid": "AC…", "api_key_sid": "SK…", "api_key_secret": "…"}    // a standard API key
//
// Twilio's SDKs check tokens and secrets only for being alphanumeric, and so does this plugin.
//
// Calls are placed with POST /2010-04-01/Accounts/{AccountSid}/Calls.json (Basic auth as either
// pair) and followed through StatusCallback, which Twilio signs with the account's Auth Token
// (X-Twilio-Signature). An API key cannot check that signature, so with the API-key shape every
// status callback is refused (fail closed, an error wrapping carriers.ErrBadSignature that says
// so): an account that wants its calls followed must be stored with its Auth Token.
package twilio

import (
	"cmp"
	"context"
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

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

// DefaultBaseURL is Twilio's REST API.
const DefaultBaseURL = "https://api.twilio.com"

// Carrier is the Twilio plugin. Its zero value talks to [DefaultBaseURL] with the default
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

func (c Carrier) api(creds Credentials) carriers.APIClient {
	return carriers.APIClient{Carrier: ID, Timeout: c.Timeout, Secrets: []string{creds.AuthToken, creds.APIKeySecret}}
}

// accountURL is the URL of the account resource, followed by suffix.
func (c Carrier) accountURL(creds Credentials, suffix string) string {
	return strings.TrimRight(cmp.Or(c.BaseURL, DefaultBaseURL), "/") + "/2010-04-01/Accounts/" + url.PathEscape(creds.AccountSID) + suffix
}

// statusEvents are the call progress events Twilio is asked to report.
var statusEvents = []string{"initiated", "ringing", "answered", "completed"}

// Originate places a call with one POST to Calls.json; the result's ProviderCallID is the call's
// sid. Twilio is asked for every progress event, posted to the request's StatusCallbackURL.
func (c Carrier) Originate(ctx context.Context, creds carriers.Credentials, r carriers.OriginateRequest) (carriers.OriginateResult, error) {
	cr, err := carriers.CredentialsAs[Credentials](ID, creds)
	if err != nil {
		return carriers.OriginateResult{}, err
	}
	if err := r.Validate(ID); err != nil {
		return carriers.OriginateResult{}, err
	}
	form := url.Values{
		"To":                   {r.To},
		"From":                 {r.From},
		"Url":                  {r.AnswerURL},
		"StatusCallback":       {r.StatusCallbackURL},
		"StatusCallbackMethod": {http.MethodPost},
		"StatusCallbackEvent":  slices.Clone(statusEvents),
	}
	if s := r.RingTimeoutSeconds(); s > 0 {
		form.Set("Timeout", strconv.Itoa(s))
	}
	api := c.api(cr)
	req, err := carriers.NewFormRequest(c.accountURL(cr, "/Calls.json"), form)
	if err != nil {
		return carriers.OriginateResult{}, api.NotSent(err)
	}
	req.SetBasicAuth(cr.BasicAuth())
	return api.Originate(ctx, req, "sid")
}

// VerifyCredentials fetches the account (GET /2010-04-01/Accounts/{AccountSid}.json).
func (c Carrier) VerifyCredentials(ctx context.Context, creds carriers.Credentials) error {
	cr, err := carriers.CredentialsAs[Credentials](ID, creds)
	if err != nil {
		return err
	}
	api := c.api(cr)
	req, err := http.NewRequest(http.MethodGet, c.accountURL(cr, ".json"), nil)
	if err != nil {
		return api.NotSent(err)
	}
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(cr.BasicAuth())
	return api.Verify(ctx, req)
}

// statuses maps Twilio's CallStatus words (and its event names) onto carriers.CallStatus.
var statuses = map[string]carriers.CallStatus{
	"queued":      carriers.StatusQueued,
	"initiated":   carriers.StatusQueued,
	"ringing":     carriers.StatusRinging,
	"in-progress": carriers.StatusInProgress,
	"answered":    carriers.StatusInProgress,
	"completed":   carriers.StatusCompleted,
	"busy":        carriers.StatusBusy,
	"failed":      carriers.StatusFailed,
	"no-answer":   carriers.StatusNoAnswer,
	"canceled":    carriers.StatusCanceled,
}

// Status maps a Twilio CallStatus word onto a carriers.CallStatus.
func Status(word string) (carriers.CallStatus, error) {
	return carriers.LookupStatus(ID, statuses, word)
}

// ParseStatusCallback checks X-Twilio-Signature, base64(HMAC-SHA1(Auth Token, callbackURL
// followed by each POST parameter's name and value, sorted by name)), accepting callbackURL with
// and without its scheme's default port as Twilio's own validators do, and reads CallSid,
// CallStatus and (on the last event) CallDuration. With API-key credentials it always fails.
func (c Carrier) ParseStatusCallback(r *http.Request, callbackURL string, creds carriers.Credentials) (carriers.StatusEvent, error) {
	cr, err := carriers.CredentialsAs[Credentials](ID, creds)
	if err != nil {
		return carriers.StatusEvent{}, carriers.BadSignature(ID, err.Error())
	}
	if cr.AuthToken == "" {
		return carriers.StatusEvent{}, carriers.BadSignature(ID, "Twilio signs status callbacks with the account's Auth Token, "+
			"and these credentials hold an API key instead: add the account's auth token to this provider "+
			"(store it as account_sid with auth_token) so its callbacks can be checked")
	}
	sig := r.Header.Get("X-Twilio-Signature")
	if sig == "" {
		return carriers.StatusEvent{}, carriers.BadSignature(ID, "the X-Twilio-Signature header is missing")
	}
	_, form, err := carriers.ReadCallbackForm(r)
	if err != nil {
		return carriers.StatusEvent{}, fmt.Errorf("%s: %w", ID, err)
	}
	params := carriers.ConcatSorted(form)
	var texts []string
	for _, u := range portVariants(callbackURL) {
		texts = append(texts, u+params)
	}
	if !carriers.MatchHMAC(sha1.New, cr.AuthToken, sig, texts...) {
		return carriers.StatusEvent{}, carriers.BadSignature(ID, "it does not match the callback URL, body and auth token")
	}

	ev := carriers.StatusEvent{ProviderCallID: strings.TrimSpace(form.Get("CallSid"))}
	if ev.ProviderCallID == "" {
		return carriers.StatusEvent{}, fmt.Errorf("%s status callback has no CallSid", ID)
	}
	if ev.Status, err = Status(form.Get("CallStatus")); err != nil {
		return carriers.StatusEvent{}, err
	}
	if ev.Status.Terminal() {
		if ev.Duration, err = carriers.FormDuration(ID, form, "CallDuration"); err != nil {
			return carriers.StatusEvent{}, err
		}
		if code := strings.TrimSpace(form.Get("SipResponseCode")); code != "" {
			ev.Reason = "SIP " + code
		}
	}
	return ev, nil
}

// portVariants returns u as given and with its default port (:443 for https, :80 for http)
// added, or removed when u names it: Twilio has signed both forms.
func portVariants(u string) []string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return []string{u}
	}
	def := map[string]string{"https": "443", "http": "80"}[strings.ToLower(scheme)]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	hostport, tail := rest[:end], rest[end:]
	other := ""
	if host, port, err := net.SplitHostPort(hostport); err == nil {
		if port == def {
			other = host
			if strings.Contains(host, ":") {
				other = "[" + host + "]"
			}
		}
	} else if def != "" {
		other = hostport + ":" + def
	}
	if other == "" {
		return []string{u}
	}
	return []string{u, scheme + "://" + other + tail}
}
