package e164

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	for _, ok := range []string{"+14155550123", "+4420794600", "+1234567", "+123456789012345", "+919876543210"} {
		if err := Validate(ok); err != nil {
			t.Errorf("Validate(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{
		"", "+", "12025550123", "+0123456789", "+1 2025550123", "+1-202-555-0123",
		"+1234567890123456", // 16 digits
		"+123456",           // 6 digits
		"+1202555012a", "++12025550123", "+１２０２５５５０１２３", " +12025550123", "+12025550123\n",
	} {
		err := Validate(bad)
		if err == nil {
			t.Errorf("Validate(%q) accepted a malformed number", bad)
			continue
		}
		if !strings.Contains(err.Error(), Example) {
			t.Errorf("Validate(%q) error %q does not show an accepted example", bad, err)
		}
	}
}

func FuzzValidate(f *testing.F) {
	for _, s := range []string{"+14155550123", "12025550123", "+0", "+1 202", "+123456789012345"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if Validate(s) != nil {
			return
		}
		if s[0] != '+' || s[1] == '0' || len(s) < 8 || len(s) > 16 || strings.Trim(s[1:], "0123456789") != "" {
			t.Fatalf("Validate accepted %q", s)
		}
	})
}
