package carriers

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// fakeCarrier is a minimal plugin for registry tests.
type fakeCarrier struct{ info Info }

func (f fakeCarrier) Info() Info { return f.info }

func (f fakeCarrier) ParseCredentials(raw json.RawMessage) (Credentials, error) {
	m, err := DecodeFields(raw, f.info.DisplayName, f.info.CredentialFields)
	if err != nil {
		return nil, err
	}
	return fakeCreds(m), nil
}

func (f fakeCarrier) Originate(context.Context, Credentials, OriginateRequest) (OriginateResult, error) {
	return OriginateResult{}, &Error{Carrier: f.info.ID, Code: "unsupported", Message: "fake carriers place no calls"}
}

type fakeCreds map[string]string

func (c fakeCreds) Hint() string { return MaskHint(c["id"], 2, 2) }

func fake(id string, fields ...FieldSpec) fakeCarrier {
	if fields == nil {
		fields = []FieldSpec{{Name: "id", Label: "ID", Required: true, Pattern: `^ID[0-9]{4}$`, Example: "ID1234"}}
	}
	return fakeCarrier{Info{ID: id, DisplayName: "Fake " + id, CredentialFields: fields}}
}

func TestRegisterPanics(t *testing.T) {
	field := func(mod func(*FieldSpec)) FieldSpec {
		f := FieldSpec{Name: "key", Label: "Key", Pattern: `^k[0-9]+$`, Example: "k1"}
		mod(&f)
		return f
	}
	tests := []struct {
		name    string
		carrier Carrier
		want    string // part of the panic message
	}{
		{"nil carrier", nil, "nil"},
		{"empty id", fake(""), "empty"},
		{"upper-case id", fake("Twilio"), "must match"},
		{"id starting with a digit", fake("1carrier"), "must match"},
		{"id with a space", fake("my carrier"), "must match"},
		{"id with a dot", fake("my.carrier"), "must match"},
		{"no display name", fakeCarrier{Info{ID: "x"}}, "display name"},
		{"pattern does not compile", fake("x", field(func(f *FieldSpec) { f.Pattern = `^(ab$` })), "does not compile"},
		{"pattern not anchored", fake("x", field(func(f *FieldSpec) { f.Pattern = `k[0-9]+` })), "anchored"},
		{"pattern ends in escaped dollar", fake("x", field(func(f *FieldSpec) { f.Pattern = `^k\$`; f.Example = "k$" })), "anchored"},
		{"pattern not valid JavaScript", fake("x", field(func(f *FieldSpec) { f.Pattern = `^(?i)k[0-9]+$` })), "JavaScript"},
		{"example does not match", fake("x", field(func(f *FieldSpec) { f.Example = "x1" })), "does not match"},
		{"empty example", fake("x", field(func(f *FieldSpec) { f.Example = "" })), "Example"},
		{"empty field name", fake("x", field(func(f *FieldSpec) { f.Name = "" })), "field name"},
		{"field without label", fake("x", field(func(f *FieldSpec) { f.Label = "" })), "label"},
		{"duplicate field", fake("x", field(func(*FieldSpec) {}), field(func(*FieldSpec) {})), "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := catchPanic(func() { newRegistry().register(tt.carrier) })
			if got == "" {
				t.Fatal("register did not panic")
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("panic %q does not mention %q", got, tt.want)
			}
		})
	}
}

func TestRegisterDuplicatePanics(t *testing.T) {
	r := newRegistry()
	r.register(fake("acme"))
	got := catchPanic(func() { r.register(fake("acme")) })
	if !strings.Contains(got, `twice for carrier "acme"`) {
		t.Fatalf("second register: panic %q, want one about registering twice", got)
	}
	if c, ok := r.lookup("acme"); !ok || c.Info().ID != "acme" {
		t.Errorf("the first registration was lost")
	}
}

func TestRegisterAcceptsValidInfo(t *testing.T) {
	r := newRegistry()
	for _, c := range []Carrier{
		fake("a"),
		fake("with-dash_and_digits9"),
		fake("no-pattern", FieldSpec{Name: "token", Label: "Token", Secret: true, Required: true, Example: "t"}),
		fake("no-fields", []FieldSpec{}...),
	} {
		if p := catchPanic(func() { r.register(c) }); p != "" {
			t.Errorf("register(%q) panicked: %s", c.Info().ID, p)
		}
	}
}

func TestListAndIDsSorted(t *testing.T) {
	r := newRegistry()
	for _, id := range []string{"vobiz", "plivo", "twilio", "sandbox", "a-first"} {
		r.register(fake(id))
	}
	want := []string{"a-first", "plivo", "sandbox", "twilio", "vobiz"}
	if got := r.ids(); !reflect.DeepEqual(got, want) {
		t.Errorf("ids() = %v, want %v", got, want)
	}
	var got []string
	for _, c := range r.list() {
		got = append(got, c.Info().ID)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("list() ids = %v, want %v", got, want)
	}
	if _, ok := r.lookup("nope"); ok {
		t.Error("lookup of an unregistered id succeeded")
	}
	if c, ok := r.lookup("plivo"); !ok || c.Info().ID != "plivo" {
		t.Errorf("lookup(plivo) = %v, %v", c, ok)
	}
}

func TestEmptyRegistry(t *testing.T) {
	r := newRegistry()
	if ids := r.ids(); len(ids) != 0 || ids == nil {
		t.Errorf("ids() = %#v, want an empty non-nil slice", ids)
	}
	if l := r.list(); len(l) != 0 {
		t.Errorf("list() = %v, want empty", l)
	}
}

func TestRegistryConcurrent(t *testing.T) {
	r := newRegistry()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			r.register(fake(fmt.Sprintf("carrier%02d", i)))
		}()
		go func() {
			defer wg.Done()
			for range 50 {
				ids := r.ids()
				list := r.list()
				_, _ = r.lookup("carrier00")
				for j := 1; j < len(ids); j++ {
					if ids[j-1] >= ids[j] {
						t.Errorf("ids() not sorted: %v", ids)
						return
					}
				}
				_ = list
			}
		}()
	}
	wg.Wait()
	if n := len(r.ids()); n != 20 {
		t.Errorf("registered %d carriers, want 20", n)
	}
}

// TestPackageLevelWrappers exercises the exported functions on the shared registry with an id
// no real plugin uses.
func TestPackageLevelWrappers(t *testing.T) {
	const id = "zz-carriers-test"
	Register(fake(id))
	if c, ok := Lookup(id); !ok || c.Info().ID != id {
		t.Fatalf("Lookup(%q) = %v, %v", id, c, ok)
	}
	found := false
	for _, c := range List() {
		found = found || c.Info().ID == id
	}
	if !found {
		t.Errorf("List() does not include %q", id)
	}
	ids := IDs()
	if len(ids) == 0 || ids[len(ids)-1] != id {
		t.Errorf("IDs() = %v, want %q last", ids, id)
	}
	if p := catchPanic(func() { Register(fake(id)) }); p == "" {
		t.Error("registering the same id twice did not panic")
	}
}

func catchPanic(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}
