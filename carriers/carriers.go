// Package carriers is the contract between Switchboard and its carrier plugins, and the registry
// that holds them.
//
// A plugin lives in its own package (carriers/twilio, carriers/plivo, …), imports only this
// package and the standard library, and registers itself from init():
//
//	func init() { carriers.Register(Carrier{}) }
//
// The server pulls the built-in plugins in with blank imports. Every plugin describes its
// credential form with [FieldSpec]s (so a frontend can render the form from the registry) and
// parses a submitted credentials document with [DecodeFields], the one shared parser, so that all
// carriers report mistakes the same way and never echo a submitted value back.
//
// Beyond the [Carrier] interface a plugin may implement [Verifier] (check credentials with the
// carrier), [CallbackParser] (verify and read the carrier's status callbacks) and [Rebaser] (send
// its API requests elsewhere). Plugins share the plumbing in this package: [APIClient] sends one
// request to a carrier's API and sorts the reply into *[Error] or [ErrOutcomeUnknown],
// [ReadCallbackForm] and [MatchHMAC] read and check callbacks, and [PlivoStyle] is the whole
// Plivo wire format, which other carriers copy.
//
// The package carriers/carriertest holds a conformance kit every plugin's tests should run.
package carriers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// FieldSpec describes one key of a carrier's credentials document: how a form should present it
// and what the parser accepts for it.
type FieldSpec struct {
	Name        string // JSON key, e.g. "account_sid"
	Label       string // human label, e.g. "Account SID"
	Description string // one sentence of help for a form
	Secret      bool   // a form should mask it; never echoed anywhere
	Required    bool   // must always be present
	Pattern     string // anchored regexp the (trimmed) value must match; valid in both Go RE2 and JavaScript; "" = any non-empty string
	Example     string // a value the parser accepts (matches Pattern)
}

// Info describes a carrier plugin: its registry id (lower case, e.g. "twilio"), the name shown
// to people, and the fields of its credentials document in the order a form should show them.
type Info struct {
	ID, DisplayName  string
	CredentialFields []FieldSpec
}

// Credentials are one carrier account's parsed secrets. json.Marshal of a Credentials value must
// produce a document that the same plugin's ParseCredentials accepts again (that is how they are
// sealed at rest). Implementations should also redact secrets from fmt's %v/%+v/%#v output.
type Credentials interface {
	// Hint returns a non-secret reminder of which account these are, e.g. "AC…9f2c".
	Hint() string
}

// Carrier is a carrier plugin.
type Carrier interface {
	// Info describes the plugin; it must return the same value every time.
	Info() Info
	// ParseCredentials checks the shape of a credentials document (it does not call the carrier)
	// and returns the parsed credentials. Its errors are *FieldError and never contain a
	// submitted value.
	ParseCredentials(raw json.RawMessage) (Credentials, error)
	// Originate places one call with c, which ParseCredentials returned, and sends the request
	// at most once: it never retries. Its errors are an *Error when the carrier refused (or
	// the plugin refused bad input before sending, see [OriginateRequest.Validate]), or wrap
	// [ErrOutcomeUnknown] when the call may exist (a 5xx reply, a timeout, a lost connection).
	// They never contain a secret.
	Originate(ctx context.Context, c Credentials, r OriginateRequest) (OriginateResult, error)
}

// FieldError is a mistake in a submitted credentials document. Its message names the key and
// says what is accepted, but never contains the submitted value.
type FieldError struct {
	Field   string // the credential JSON key at fault, or "" for the document as a whole
	Message string // a sentence for a person, safe to show and to log
}

// Error returns the message.
func (e *FieldError) Error() string {
	switch {
	case e == nil:
		return "<nil>"
	case e.Message != "":
		return e.Message
	case e.Field != "":
		return fmt.Sprintf("invalid credential field %q", e.Field)
	default:
		return "invalid credentials"
	}
}

// idPattern is what a carrier id must look like: it appears in URLs and in stored rows.
var idPattern = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// fieldNamePattern is what a credential key must look like.
var fieldNamePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

// jsIncompatible lists Go RE2 constructs that JavaScript's RegExp does not understand (or reads
// differently), so a pattern using one could not be checked by a frontend form.
var jsIncompatible = []string{`\A`, `\z`, `\Q`, `\E`, `\p`, `\P`, `(?P<`, `(?i`, `(?m`, `(?s`, `(?U`, `(?-`, `[[:`}

// Validate reports the first problem with the Info, the same ones [Register] panics on: an empty
// or malformed ID, an empty display name, and a credential field with an empty or duplicate name,
// no label, a Pattern that is not an anchored regexp valid in both Go and JavaScript, or an
// Example the parser would reject.
func (i Info) Validate() error {
	if i.ID == "" {
		return errors.New("carrier id is empty")
	}
	if !idPattern.MatchString(i.ID) {
		return fmt.Errorf("carrier id %q must match %s", i.ID, idPattern)
	}
	if strings.TrimSpace(i.DisplayName) == "" {
		return fmt.Errorf("carrier %q has no display name", i.ID)
	}
	seen := make(map[string]bool, len(i.CredentialFields))
	for _, f := range i.CredentialFields {
		if !fieldNamePattern.MatchString(f.Name) {
			return fmt.Errorf("carrier %q: credential field name %q must match %s", i.ID, f.Name, fieldNamePattern)
		}
		if seen[f.Name] {
			return fmt.Errorf("carrier %q: credential field %q is listed twice", i.ID, f.Name)
		}
		seen[f.Name] = true
		if strings.TrimSpace(f.Label) == "" {
			return fmt.Errorf("carrier %q: credential field %q has no label", i.ID, f.Name)
		}
		if err := checkPattern(f.Pattern); err != nil {
			return fmt.Errorf("carrier %q: credential field %q: %w", i.ID, f.Name, err)
		}
		if f.Example == "" || strings.TrimSpace(f.Example) != f.Example {
			return fmt.Errorf("carrier %q: credential field %q needs a non-empty Example without surrounding spaces", i.ID, f.Name)
		}
		if f.Pattern != "" && !compilePattern(f.Pattern).MatchString(f.Example) {
			return fmt.Errorf("carrier %q: credential field %q: Example %q does not match Pattern %s", i.ID, f.Name, f.Example, f.Pattern)
		}
	}
	return nil
}

// checkPattern checks that a non-empty pattern compiles, is anchored at both ends and avoids the
// RE2 syntax JavaScript lacks.
func checkPattern(p string) error {
	if p == "" {
		return nil
	}
	if _, err := regexp.Compile(p); err != nil {
		return fmt.Errorf("pattern %s does not compile: %w", p, err)
	}
	if !strings.HasPrefix(p, "^") || !strings.HasSuffix(p, "$") || strings.HasSuffix(p, `\$`) {
		return fmt.Errorf("pattern %s must be anchored with ^ and $", p)
	}
	for _, s := range jsIncompatible {
		if strings.Contains(p, s) {
			return fmt.Errorf("pattern %s uses %s, which JavaScript regular expressions do not support", p, s)
		}
	}
	return nil
}
