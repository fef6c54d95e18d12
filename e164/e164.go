// Package e164 checks telephone numbers in E.164 form.
package e164

import (
	"fmt"
	"unicode/utf8"
)

// Example is a well-formed number, for messages and docs.
const Example = "+14155550123"

// Validate returns nil when s is an E.164 number: "+", then 7 to 15 ASCII digits, the first not
// 0. Nothing is normalised: spaces, dashes, brackets and a missing "+" are errors, so a number is
// stored exactly as the carrier will see it.
func Validate(s string) error {
	digits := len(s) - 1
	ok := len(s) > 0 && s[0] == '+' && digits >= 7 && digits <= 15 && s[1] != '0'
	for i := 1; ok && i < len(s); i++ {
		ok = s[i] >= '0' && s[i] <= '9'
	}
	if ok {
		return nil
	}
	return fmt.Errorf("%q is not an E.164 number: write + then the country code and number, 7 to 15 digits in all, the first not 0, with no spaces or punctuation (for example %s)", truncate(s), Example)
}

// truncate clips s to its first 32 bytes, backing off to the start of a character so the
// message does not show half of one.
func truncate(s string) string {
	const max = 32
	if len(s) <= max {
		return s
	}
	n := max
	for i := 0; i < utf8.UTFMax-1 && !utf8.RuneStart(s[n]); i++ {
		n--
	}
	return s[:n] + "…"
}
