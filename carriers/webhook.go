package carriers

import (
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxCallbackSize bounds a status callback's body; real ones are well under 4 KiB.
const maxCallbackSize = 64 << 10

// ReadCallbackForm reads a status callback's body, which must be a URL-encoded form sent with
// POST (at most 64 KiB), and returns it raw (for schemes that sign the bytes) and parsed. Query
// parameters are not included: they belong to the callback URL. It consumes r.Body.
func ReadCallbackForm(r *http.Request) ([]byte, url.Values, error) {
	if r.Method != http.MethodPost {
		return nil, nil, fmt.Errorf("status callbacks must be POST requests, not %s", clip(r.Method))
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/x-www-form-urlencoded" {
			return nil, nil, errors.New("a status callback's body must be application/x-www-form-urlencoded")
		}
	}
	if r.Body == nil {
		return nil, url.Values{}, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxCallbackSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the status callback: %w", err)
	}
	if len(body) > maxCallbackSize {
		return nil, nil, fmt.Errorf("the status callback is larger than %d KiB", maxCallbackSize>>10)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, nil, errors.New("the status callback's body is not a valid URL-encoded form")
	}
	return body, form, nil
}

// SignHMAC returns base64(HMAC(h, key, msg)) in standard encoding with padding, the form every
// carrier here uses.
func SignHMAC(h func() hash.Hash, key, msg string) string {
	m := hmac.New(h, []byte(key))
	m.Write([]byte(msg))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// MatchHMAC reports whether header (one signature, or several separated by commas, as when a
// carrier signs with more than one token) holds SignHMAC(h, key, m) for one of messages. The
// comparisons take constant time. An empty key or header never matches.
func MatchHMAC(h func() hash.Hash, key, header string, messages ...string) bool {
	if key == "" || strings.TrimSpace(header) == "" {
		return false
	}
	got := strings.Split(header, ",")
	match := false
	for _, msg := range messages {
		want := []byte(SignHMAC(h, key, msg))
		for _, g := range got {
			match = hmac.Equal(want, []byte(strings.TrimSpace(g))) || match
		}
	}
	return match
}

// ConcatSorted writes form's parameters sorted by name (a repeated name's values sorted too),
// each as its name followed by its value, with no separators: the part of the signed text that
// covers the body in Twilio's and Plivo's callback signatures.
func ConcatSorted(form url.Values) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(form)) {
		for _, v := range slices.Sorted(slices.Values(form[k])) {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	return b.String()
}

// BadSignature returns an error for carrier that wraps ErrBadSignature and gives the reason.
func BadSignature(carrier, reason string) error {
	return fmt.Errorf("%s: %w: %s", carrier, ErrBadSignature, reason)
}

var secondsPattern = regexp.MustCompile(`^([0-9]{1,9})(?:\.([0-9]{1,9}))?$`)

// ParseSeconds reads a non-negative number of seconds, whole or decimal ("42", "0.05"), exactly.
func ParseSeconds(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	m := secondsPattern.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a number of seconds", clip(s))
	}
	// At most 9 digits on each side of the point, so both parts fit an int64 exactly.
	whole, _ := strconv.ParseInt(m[1], 10, 64)
	nanos, _ := strconv.ParseInt((m[2] + "000000000")[:9], 10, 64)
	return time.Duration(whole)*time.Second + time.Duration(nanos), nil
}

// LookupStatus maps a carrier's status word (trimmed, any case) through table; an unknown or
// empty word is an error naming it.
func LookupStatus(carrier string, table map[string]CallStatus, word string) (CallStatus, error) {
	if s, ok := table[strings.ToLower(strings.TrimSpace(word))]; ok {
		return s, nil
	}
	if strings.TrimSpace(word) == "" {
		return "", fmt.Errorf("%s status callback has no call status", carrier)
	}
	return "", fmt.Errorf("%s status callback has an unknown call status %q", carrier, clip(word))
}

// FormDuration reads the seconds in form[key] (absent or empty = 0) for a callback from carrier.
func FormDuration(carrier string, form url.Values, key string) (time.Duration, error) {
	v := strings.TrimSpace(form.Get(key))
	if v == "" {
		return 0, nil
	}
	d, err := ParseSeconds(v)
	if err != nil {
		return 0, fmt.Errorf("%s status callback: %s: %w", carrier, key, err)
	}
	return d, nil
}

// clip shortens text a carrier (or a caller) sent before it goes into a message.
func clip(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}
