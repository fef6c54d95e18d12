// Package ids makes and reads Switchboard's public identifiers: a short type prefix, an
// underscore and a ULID ("prov_01JD…"). The prefix tells a node lookup which table to read; the
// ULID sorts by creation time.
package ids

import (
	"fmt"
	"strings"

	"github.com/oklog/ulid/v2"
)

// Kind is one identified entity: its ID prefix and the table that stores it.
type Kind struct {
	Prefix string
	Table  string
}

// The kinds of identified entities.
var (
	Provider    = Kind{Prefix: "prov", Table: "providers"}
	PhoneNumber = Kind{Prefix: "pn", Table: "phone_numbers"}
	CallLimits  = Kind{Prefix: "lim", Table: "call_limits"}
	Call        = Kind{Prefix: "call", Table: "calls"}
)

// Session prefixes a call's voice-session id. Sessions are not nodes: the kind has no table.
var Session = Kind{Prefix: "sess"}

var kinds = []Kind{Provider, PhoneNumber, CallLimits, Call}

// New returns a fresh identifier of this kind.
func (k Kind) New() string {
	return k.Prefix + "_" + ulid.Make().String()
}

// Owns reports whether id is well formed for this kind.
func (k Kind) Owns(id string) bool {
	rest, ok := strings.CutPrefix(id, k.Prefix+"_")
	if !ok {
		return false
	}
	_, err := ulid.ParseStrict(rest)
	return err == nil
}

// TableOf returns the table that stores the entity id names, or an error when id is not a
// well-formed Switchboard identifier.
func TableOf(id string) (string, error) {
	for _, k := range kinds {
		if k.Owns(id) {
			return k.Table, nil
		}
	}
	return "", fmt.Errorf("%q is not a Switchboard ID", id)
}
