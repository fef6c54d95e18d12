package e164

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// rule is the documented E.164 check written as a regular expression: "+", then 7 to 15 ASCII
// digits, the first not 0.
var rule = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// maxShown is the most bytes of a rejected input an error message may echo.
const maxShown = 32

// FuzzValidateRule checks Validate against rule, and checks what a rejection says: the input
// (clipped to maxShown bytes, at a character boundary, marked with "…"), quoted, followed by the
// same explanation every time, which shows an accepted example.
func FuzzValidateRule(f *testing.F) {
	for _, s := range []string{
		Example, "+1234567", "+123456789012345", // shortest, longest
		"+123456", "+1234567890123456", "+0123456789", "14155550123", "+1 415 555 0123", "+", "",
		"＋14155550123", "+14155550123\x00", "+1415555012٣",
		strings.Repeat("9", 40), "+" + strings.Repeat("é", 20), "\xff\xfe+1415",
	} {
		f.Add(s)
	}
	empty := Validate("")
	if empty == nil {
		f.Fatal(`Validate("") accepted the empty string`)
	}
	explanation, ok := strings.CutPrefix(empty.Error(), `""`)
	if !ok || !strings.Contains(explanation, Example) {
		f.Fatalf(`Validate("") = %q: want the quoted input, then an explanation with the example %s`, empty, Example)
	}
	if err := Validate(Example); err != nil {
		f.Fatalf("Validate(Example) = %v", err)
	}

	f.Fuzz(func(t *testing.T, s string) {
		err := Validate(s)
		if want := rule.MatchString(s); (err == nil) != want {
			t.Fatalf("Validate(%q) = %v, but the documented rule says accepted = %v", s, err, want)
		}
		if err == nil {
			return
		}
		msg := err.Error()
		head, ok := strings.CutSuffix(msg, explanation)
		if !ok {
			t.Fatalf("Validate(%q) = %q: want the quoted input followed by %q", s, msg, explanation)
		}
		shown, qerr := strconv.Unquote(head)
		if qerr != nil {
			t.Fatalf("Validate(%q) = %q: the echoed input %s is not a quoted string: %v", s, msg, head, qerr)
		}
		if len(s) <= maxShown {
			if shown != s {
				t.Fatalf("Validate(%q) echoes %q, want the whole (short) input", s, shown)
			}
			return
		}
		prefix, clipped := strings.CutSuffix(shown, "…")
		// Clipping may back off to the start of a character, by less than one character.
		if !clipped || !strings.HasPrefix(s, prefix) || len(prefix) > maxShown || len(prefix) <= maxShown-utf8.UTFMax {
			t.Fatalf("Validate(%q) echoes %q, want at most its first %d bytes followed by …", s, shown, maxShown)
		}
		if utf8.ValidString(s) && !utf8.ValidString(prefix) {
			t.Fatalf("Validate(%q) echoes %q, which cuts a character in half", s, shown)
		}
	})
}
