package carriers

import (
	"fmt"
	"sort"
	"sync"
)

// registry maps carrier ids to plugins. The package-level functions wrap one shared instance;
// tests make their own with newRegistry.
type registry struct {
	mu       sync.RWMutex
	carriers map[string]Carrier
}

func newRegistry() *registry {
	return &registry{carriers: make(map[string]Carrier)}
}

var defaultRegistry = newRegistry()

func (r *registry) register(c Carrier) {
	if c == nil {
		panic("carriers: Register called with a nil Carrier")
	}
	info := c.Info() // plugin code runs outside the lock
	if err := info.Validate(); err != nil {
		panic("carriers: Register: " + err.Error())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.carriers[info.ID]; dup {
		panic(fmt.Sprintf("carriers: Register called twice for carrier %q", info.ID))
	}
	r.carriers[info.ID] = c
}

func (r *registry) lookup(id string) (Carrier, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c, ok := r.carriers[id]
	return c, ok
}

func (r *registry) ids() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ids := make([]string, 0, len(r.carriers))
	for id := range r.carriers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func (r *registry) list() []Carrier {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ids := make([]string, 0, len(r.carriers))
	for id := range r.carriers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]Carrier, len(ids))
	for i, id := range ids {
		out[i] = r.carriers[id]
	}
	return out
}

// Register makes a carrier plugin available under its Info().ID. Plugins call it from init().
// It panics on a nil carrier, an Info that fails [Info.Validate] (empty or malformed id, a
// credential Pattern that does not compile, an Example that does not match its Pattern, …), or an
// id that is already registered.
func Register(c Carrier) { defaultRegistry.register(c) }

// Lookup returns the carrier registered under id.
func Lookup(id string) (Carrier, bool) { return defaultRegistry.lookup(id) }

// List returns every registered carrier, sorted by id.
func List() []Carrier { return defaultRegistry.list() }

// IDs returns the ids of every registered carrier, sorted.
func IDs() []string { return defaultRegistry.ids() }
