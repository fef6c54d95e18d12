package carriers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/agnivade/levenshtein"
)

// maxDocumentSize bounds a credentials document; real ones are a few hundred bytes.
const maxDocumentSize = 64 << 10

// DecodeFields is the shared parser for credentials documents: every plugin's ParseCredentials
// starts with it. carrierName (e.g. "Twilio") is used in messages; specs are the plugin's
// credential fields.
//
// raw must be a JSON object whose keys are all named in specs and whose values are strings. Values
// are trimmed of surrounding whitespace, a Required key must be present and non-empty, and a
// non-empty value must match its field's Pattern. A key whose value is null or only whitespace
// counts as not given (so forms may send null for an optional field). The result maps each given
// key to its trimmed value; keys not given are absent from it.
//
// The error, if any, is a *FieldError for the first problem found, in this order: the document
// itself (not a JSON object, too large), then unknown or repeated keys in document order, then
// each spec in order (not a string, missing, not matching the pattern). Its message names the key
// and what is accepted and never contains a submitted value.
func DecodeFields(raw json.RawMessage, carrierName string, specs []FieldSpec) (map[string]string, error) {
	prefix := "credentials"
	if carrierName != "" {
		prefix = carrierName + " credentials"
	}
	notObject := func(got string) error {
		return &FieldError{Message: fmt.Sprintf("%s must be a JSON object with the keys %s (got %s)",
			prefix, acceptedKeys(specs), got)}
	}

	doc := bytes.TrimSpace(raw)
	switch {
	case len(doc) == 0:
		return nil, notObject("nothing")
	case len(doc) > maxDocumentSize:
		return nil, &FieldError{Message: fmt.Sprintf("%s are too large (at most %d KiB)", prefix, maxDocumentSize>>10)}
	case !json.Valid(doc):
		return nil, notObject("invalid JSON")
	case doc[0] != '{':
		return nil, notObject(jsonKind(doc))
	}

	// Walk the object token by token so repeated keys are noticed (a map would keep the last).
	dec := json.NewDecoder(bytes.NewReader(doc))
	if _, err := dec.Token(); err != nil { // '{'
		return nil, notObject("invalid JSON")
	}
	values := make(map[string]json.RawMessage)
	known := make(map[string]bool, len(specs))
	for _, s := range specs {
		known[s.Name] = true
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, notObject("invalid JSON")
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, notObject("invalid JSON")
		}
		if !known[key] {
			return nil, unknownKeyError(prefix, key, specs)
		}
		if _, dup := values[key]; dup {
			return nil, &FieldError{Field: key, Message: fmt.Sprintf("%s have the key %s more than once", prefix, key)}
		}
		values[key] = v
	}

	out := make(map[string]string, len(values))
	for _, s := range specs {
		v, given := values[s.Name]
		given = given && !bytes.Equal(v, []byte("null"))
		var str string
		if given {
			if err := json.Unmarshal(v, &str); err != nil {
				return nil, &FieldError{Field: s.Name, Message: fmt.Sprintf("%s must be a string, not %s", fieldName(s), jsonKind(v))}
			}
			str = strings.TrimSpace(str)
		}
		if str == "" {
			if s.Required {
				state := "is required"
				if given {
					state = "is empty but required"
				}
				return nil, &FieldError{Field: s.Name, Message: fmt.Sprintf("%s %s: expected %s", fieldName(s), state, describePattern(s.Pattern))}
			}
			continue
		}
		if s.Pattern != "" {
			re := compilePattern(s.Pattern)
			if re == nil {
				return nil, &FieldError{Field: s.Name, Message: fmt.Sprintf("%s cannot be checked: the %s plugin's pattern for it is invalid", fieldName(s), carrierName)}
			}
			if !re.MatchString(str) {
				msg := fmt.Sprintf("%s is not valid: expected %s", fieldName(s), describePattern(s.Pattern))
				if !s.Secret {
					// The length is not the value, and it is the usual copy-and-paste slip.
					msg += fmt.Sprintf(", but the value given has %d characters", utf8.RuneCountInString(str))
				}
				return nil, &FieldError{Field: s.Name, Message: msg}
			}
		}
		out[s.Name] = str
	}
	return out, nil
}

// fieldName is how messages refer to a field: its key, then its label.
func fieldName(s FieldSpec) string {
	if s.Label == "" {
		return s.Name
	}
	return fmt.Sprintf("%s (%s)", s.Name, s.Label)
}

func acceptedKeys(specs []FieldSpec) string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	if len(names) == 0 {
		return "(none)"
	}
	return strings.Join(names, ", ")
}

// unknownKeyError names the key, suggests the closest accepted one when it is within two edits,
// and lists the accepted keys.
func unknownKeyError(prefix, key string, specs []FieldSpec) *FieldError {
	shown := key
	if utf8.RuneCountInString(shown) > 40 {
		shown = string([]rune(shown)[:40]) + "…"
	}
	msg := fmt.Sprintf("%s have no key %q", prefix, shown)
	best, bestDist := "", 3
	lk := strings.ToLower(key)
	for _, s := range specs {
		if d := levenshtein.ComputeDistance(lk, strings.ToLower(s.Name)); d < bestDist {
			best, bestDist = s.Name, d
		}
	}
	if best != "" && key != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", best)
	}
	msg += "; the accepted keys are " + acceptedKeys(specs)
	return &FieldError{Field: key, Message: msg}
}

// jsonKind names the type of a valid JSON value without showing it.
func jsonKind(v []byte) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

var patternCache sync.Map // pattern string → *regexp.Regexp (nil when it does not compile)

func compilePattern(p string) *regexp.Regexp {
	if re, ok := patternCache.Load(p); ok {
		return re.(*regexp.Regexp)
	}
	re, err := regexp.Compile(p)
	if err != nil {
		re = nil
	}
	patternCache.Store(p, re)
	return re
}

// MaskHint shortens an identifier to a non-secret reminder: its first keepPrefix and last
// keepSuffix characters around "…", e.g. MaskHint("AC0123456789abcdef0123456789ab9f2c", 2, 4) ==
// "AC…9f2c". It never reveals more than keepPrefix+keepSuffix characters, nor more than half of
// id (the prefix is kept first), so a short id is still mostly hidden; an empty id gives "".
func MaskHint(id string, keepPrefix, keepSuffix int) string {
	r := []rune(id)
	if len(r) == 0 {
		return ""
	}
	keepPrefix, keepSuffix = max(keepPrefix, 0), max(keepSuffix, 0)
	budget := len(r) / 2
	p := min(keepPrefix, budget)
	s := min(keepSuffix, budget-p)
	return string(r[:p]) + "…" + string(r[len(r)-s:])
}
