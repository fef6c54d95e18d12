package carriers

import (
	"fmt"
	"maps"
	"slices"
)

// Set is the carriers one server offers: the registered plugins, plus any the server adds for
// itself (the sandbox, when enabled), with API base URLs changed where the operator says so.
// Unlike the registry it is built once and never changes, so several servers in one process can
// offer different sets.
type Set struct {
	byID map[string]Carrier
}

// NewSet snapshots the registry, adds extra, and points the carriers named in baseURLs (id →
// URL) at those URLs. An extra that clashes with a registered id, or a base URL for a carrier
// that is unknown or cannot be rebased, is an error.
func NewSet(extra []Carrier, baseURLs map[string]string) (*Set, error) {
	s := &Set{byID: make(map[string]Carrier)}
	for _, c := range List() {
		s.byID[c.Info().ID] = c
	}
	for _, c := range extra {
		id := c.Info().ID
		if err := c.Info().Validate(); err != nil {
			return nil, err
		}
		if _, dup := s.byID[id]; dup {
			return nil, fmt.Errorf("carrier %q is registered already", id)
		}
		s.byID[id] = c
	}
	for id, base := range baseURLs {
		c, ok := s.byID[id]
		if !ok {
			return nil, fmt.Errorf("unknown carrier %q: use one of %v", id, s.IDs())
		}
		r, ok := c.(Rebaser)
		if !ok {
			return nil, fmt.Errorf("carrier %q has no API base URL to change", id)
		}
		s.byID[id] = r.WithBaseURL(base)
	}
	return s, nil
}

// Lookup returns the carrier with this id.
func (s *Set) Lookup(id string) (Carrier, bool) {
	c, ok := s.byID[id]
	return c, ok
}

// IDs returns the carriers' ids, sorted.
func (s *Set) IDs() []string { return slices.Sorted(maps.Keys(s.byID)) }

// List returns the carriers sorted by id.
func (s *Set) List() []Carrier {
	out := make([]Carrier, 0, len(s.byID))
	for _, id := range s.IDs() {
		out = append(out, s.byID[id])
	}
	return out
}
