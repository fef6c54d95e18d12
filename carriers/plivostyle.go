package carriers

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// PlivoStyle is the wire format Plivo's Voice API defined and other carriers (Vobiz) copied: a
// JSON create-call request answered with a request_uuid, JSON error documents, form-encoded
// status callbacks (CallUUID/RequestUUID, CallStatus, Duration, HangupCause) signed with
// HMAC-SHA256 over a carrier-specific text, "." and a nonce sent in a second header. A plugin
// fills one in with its paths, auth style and signature scheme and forwards to its methods.
type PlivoStyle struct {
	Carrier    string        // plugin id
	BaseURL    string        // API base without a trailing slash, e.g. "https://api.plivo.com"
	CallPath   string        // create-call path; "{auth_id}" stands for the account's Auth ID
	VerifyPath string        // credentials-check path, fetched with GET; "{auth_id}" as in CallPath
	Timeout    time.Duration // bound on each request; 0 = DefaultCallTimeout / DefaultVerifyTimeout
	StripPlus  bool          // send From and To as digits only, without E.164's leading "+"

	// Account returns the Auth ID and Auth Token of the plugin's own credentials type (ok false
	// for any other type).
	Account func(c Credentials) (authID, authToken string, ok bool)
	// Authorize puts an account's credentials on an API request.
	Authorize func(req *http.Request, authID, authToken string)

	// SignatureHeader and NonceHeader name the callback signature's headers.
	SignatureHeader, NonceHeader string
	// SignedText returns the text the carrier signs for a callback to callbackURL carrying form,
	// before "." and the nonce are appended (several candidates when SDKs disagree on details).
	SignedText func(callbackURL string, form url.Values) []string
}

// plivoCall is the create-call body. hangup_url and ring_url both receive status callbacks.
type plivoCall struct {
	From         string `json:"from"`
	To           string `json:"to"`
	AnswerURL    string `json:"answer_url"`
	AnswerMethod string `json:"answer_method"`
	HangupURL    string `json:"hangup_url"`
	RingURL      string `json:"ring_url"`
	RingTimeout  int    `json:"ring_timeout,omitempty"`
}

// With returns a copy that talks to base instead (when base is not "") with the given timeout
// (0 = the defaults): how a plugin applies its struct's BaseURL and Timeout.
func (p PlivoStyle) With(base string, timeout time.Duration) PlivoStyle {
	if base != "" {
		p.BaseURL = base
	}
	p.Timeout = timeout
	return p
}

func (p PlivoStyle) api(authToken string) APIClient {
	return APIClient{Carrier: p.Carrier, Timeout: p.Timeout, Secrets: []string{authToken}}
}

// account unpacks c, or gives the *Error for another plugin's credentials.
func (p PlivoStyle) account(c Credentials) (authID, authToken string, err error) {
	authID, authToken, ok := p.Account(c)
	if !ok {
		return "", "", wrongCredentials(p.Carrier, c)
	}
	return authID, authToken, nil
}

func (p PlivoStyle) url(path, authID string) string {
	return strings.TrimRight(p.BaseURL, "/") + strings.ReplaceAll(path, "{auth_id}", url.PathEscape(authID))
}

// Originate places the call with one POST to CallPath.
func (p PlivoStyle) Originate(ctx context.Context, c Credentials, r OriginateRequest) (OriginateResult, error) {
	authID, authToken, err := p.account(c)
	if err != nil {
		return OriginateResult{}, err
	}
	if err := r.Validate(p.Carrier); err != nil {
		return OriginateResult{}, err
	}
	number := func(n string) string {
		if p.StripPlus {
			return strings.TrimPrefix(n, "+")
		}
		return n
	}
	api := p.api(authToken)
	req, err := NewJSONRequest(http.MethodPost, p.url(p.CallPath, authID), plivoCall{
		From: number(r.From), To: number(r.To),
		AnswerURL: r.AnswerURL, AnswerMethod: http.MethodPost,
		HangupURL: r.StatusCallbackURL, RingURL: r.StatusCallbackURL,
		RingTimeout: r.RingTimeoutSeconds(),
	})
	if err != nil {
		return OriginateResult{}, api.NotSent(err)
	}
	p.Authorize(req, authID, authToken)
	return api.Originate(ctx, req, "request_uuid")
}

// VerifyCredentials fetches VerifyPath with the credentials; see [APIClient.Verify].
func (p PlivoStyle) VerifyCredentials(ctx context.Context, c Credentials) error {
	authID, authToken, err := p.account(c)
	if err != nil {
		return err
	}
	api := p.api(authToken)
	req, err := http.NewRequest(http.MethodGet, p.url(p.VerifyPath, authID), nil)
	if err != nil {
		return api.NotSent(err)
	}
	req.Header.Set("Accept", "application/json")
	p.Authorize(req, authID, authToken)
	return api.Verify(ctx, req)
}

// plivoStatuses maps the CallStatus words of Plivo-style callbacks.
var plivoStatuses = map[string]CallStatus{
	"queued":      StatusQueued,
	"ringing":     StatusRinging,
	"in-progress": StatusInProgress,
	"completed":   StatusCompleted,
	"busy":        StatusBusy,
	"failed":      StatusFailed,
	"timeout":     StatusNoAnswer,
	"no-answer":   StatusNoAnswer,
	"cancel":      StatusCanceled,
	"canceled":    StatusCanceled,
	"cancelled":   StatusCanceled,
}

// Status maps a Plivo-style CallStatus word onto a [CallStatus].
func (p PlivoStyle) Status(word string) (CallStatus, error) {
	return LookupStatus(p.Carrier, plivoStatuses, word)
}

// ParseStatusCallback checks the signature with c's Auth Token and reads the event. The call id
// is RequestUUID (what Originate returned) when present, else CallUUID.
func (p PlivoStyle) ParseStatusCallback(r *http.Request, callbackURL string, c Credentials) (StatusEvent, error) {
	_, authToken, err := p.account(c)
	if err != nil {
		return StatusEvent{}, BadSignature(p.Carrier, err.Error())
	}
	sig, nonce := r.Header.Get(p.SignatureHeader), r.Header.Get(p.NonceHeader)
	if sig == "" || nonce == "" {
		return StatusEvent{}, BadSignature(p.Carrier, fmt.Sprintf("the %s and %s headers are required", p.SignatureHeader, p.NonceHeader))
	}
	_, form, err := ReadCallbackForm(r)
	if err != nil {
		return StatusEvent{}, fmt.Errorf("%s: %w", p.Carrier, err)
	}
	texts := p.SignedText(callbackURL, form)
	for i := range texts {
		texts[i] += "." + nonce
	}
	if !MatchHMAC(sha256.New, authToken, sig, texts...) {
		return StatusEvent{}, BadSignature(p.Carrier, "it does not match the callback URL, body and auth token")
	}

	ev := StatusEvent{ProviderCallID: cmpOrTrim(form.Get("RequestUUID"), form.Get("CallUUID"))}
	if ev.ProviderCallID == "" {
		return StatusEvent{}, errors.New(p.Carrier + " status callback has neither RequestUUID nor CallUUID")
	}
	if ev.Status, err = p.Status(form.Get("CallStatus")); err != nil {
		return StatusEvent{}, err
	}
	if ev.Status.Terminal() {
		if ev.Duration, err = FormDuration(p.Carrier, form, "Duration"); err != nil {
			return StatusEvent{}, err
		}
		ev.Reason = cmpOrTrim(form.Get("HangupCause"), form.Get("HangupCauseName"))
	}
	return ev, nil
}

// cmpOrTrim returns the first of a, b that is not blank, trimmed.
func cmpOrTrim(a, b string) string {
	if a = strings.TrimSpace(a); a != "" {
		return a
	}
	return strings.TrimSpace(b)
}
