package ids

import (
	"strings"
	"testing"
)

func TestNewIsOwnedAndSorted(t *testing.T) {
	a, b := Provider.New(), Provider.New()
	if !strings.HasPrefix(a, "prov_") || len(a) != len("prov_")+26 {
		t.Fatalf("unexpected id %q", a)
	}
	if !Provider.Owns(a) || PhoneNumber.Owns(a) {
		t.Fatalf("ownership of %q is wrong", a)
	}
	if a >= b {
		t.Fatalf("ids do not sort by creation: %q then %q", a, b)
	}
}

func TestTableOf(t *testing.T) {
	for _, tc := range []struct{ id, table string }{
		{PhoneNumber.New(), "phone_numbers"},
		{Provider.New(), "providers"},
		{CallLimits.New(), "call_limits"},
	} {
		got, err := TableOf(tc.id)
		if err != nil || got != tc.table {
			t.Errorf("TableOf(%q) = %q, %v; want %q", tc.id, got, err, tc.table)
		}
	}
	for _, bad := range []string{"", "prov_", "prov_notaulid", "xyz_01JD0000000000000000000000", "01JD0000000000000000000000", "prov-01JD0000000000000000000000"} {
		if _, err := TableOf(bad); err == nil {
			t.Errorf("TableOf(%q) accepted a malformed id", bad)
		}
	}
}
