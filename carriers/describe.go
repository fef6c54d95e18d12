package carriers

import (
	"fmt"
	"regexp/syntax"
	"strconv"
	"strings"
)

// describePattern turns a credential Pattern into words for an error message, e.g.
// ^AC[0-9a-fA-F]{32}$ → `"AC" followed by 32 hexadecimal characters`. It understands the simple
// shapes credential ids have (literals, alternatives of literals, character classes and their
// repetitions) and falls back to quoting the pattern.
func describePattern(p string) string {
	if p == "" {
		return "any non-empty text"
	}
	re, err := syntax.Parse(p, syntax.Perl)
	if err == nil {
		if d, ok := describeSeq(flatten(re), true); ok && d != "" {
			return d
		}
	}
	return "text matching the pattern " + p
}

// flatten returns the pieces of a concatenation (or the node itself), without ^ and $.
func flatten(re *syntax.Regexp) []*syntax.Regexp {
	for re.Op == syntax.OpCapture && len(re.Sub) == 1 {
		re = re.Sub[0]
	}
	var parts []*syntax.Regexp
	if re.Op == syntax.OpConcat {
		parts = re.Sub
	} else {
		parts = []*syntax.Regexp{re}
	}
	out := make([]*syntax.Regexp, 0, len(parts))
	for _, s := range parts {
		switch s.Op {
		case syntax.OpBeginText, syntax.OpEndText, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpEmptyMatch:
		default:
			out = append(out, s)
		}
	}
	if len(out) == 1 && out[0] != re {
		if inner := unwrapCapture(out[0]); inner.Op == syntax.OpConcat {
			return flatten(inner) // ^(…)$: describe what is inside the group
		}
	}
	return out
}

func describeSeq(parts []*syntax.Regexp, top bool) (string, bool) {
	var words []string
	for i := 0; i < len(parts); i++ {
		re := unwrapCapture(parts[i])
		// "MA" or "SA" followed by "_" reads better as "MA_" or "SA_".
		if alts, ok := literalAlternatives(re); ok && i+1 < len(parts) && isPlainLiteral(parts[i+1]) {
			suffix := string(parts[i+1].Rune)
			for j := range alts {
				alts[j] = strconv.Quote(alts[j] + suffix)
			}
			words = append(words, strings.Join(alts, " or "))
			i++
			continue
		}
		d, ok := describeNode(re)
		if !ok {
			return "", false
		}
		words = append(words, d)
	}
	if !top && len(words) > 1 {
		return "", false // nested sequences would need brackets; leave those to the fallback
	}
	return strings.Join(words, " followed by "), true
}

func unwrapCapture(re *syntax.Regexp) *syntax.Regexp {
	for re.Op == syntax.OpCapture && len(re.Sub) == 1 {
		re = re.Sub[0]
	}
	return re
}

func isPlainLiteral(re *syntax.Regexp) bool {
	return re.Op == syntax.OpLiteral && re.Flags&syntax.FoldCase == 0
}

// literalAlternatives returns the branches of an alternation made only of literals.
func literalAlternatives(re *syntax.Regexp) ([]string, bool) {
	if re.Op != syntax.OpAlternate {
		return nil, false
	}
	out := make([]string, len(re.Sub))
	for i, s := range re.Sub {
		s = unwrapCapture(s)
		if !isPlainLiteral(s) {
			return nil, false
		}
		out[i] = string(s.Rune)
	}
	return out, true
}

func describeNode(re *syntax.Regexp) (string, bool) {
	re = unwrapCapture(re)
	switch re.Op {
	case syntax.OpLiteral:
		q := strconv.Quote(string(re.Rune))
		if re.Flags&syntax.FoldCase != 0 {
			q += " (in any case)"
		}
		return q, true
	case syntax.OpAlternate:
		words := make([]string, len(re.Sub))
		for i, s := range re.Sub {
			d, ok := describeSeq(flatten(s), false)
			if !ok {
				return "", false
			}
			words[i] = d
		}
		return strings.Join(words, " or "), true
	case syntax.OpConcat:
		return describeSeq(flatten(re), false)
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		one, _ := className(re)
		return one, true
	case syntax.OpRepeat, syntax.OpPlus, syntax.OpStar, syntax.OpQuest:
		return describeRepeat(re)
	}
	return "", false
}

func describeRepeat(re *syntax.Regexp) (string, bool) {
	sub := unwrapCapture(re.Sub[0])
	var one, many string
	switch sub.Op {
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		one, many = className(sub)
	case syntax.OpLiteral:
		one, _ = describeNode(sub)
		many = "repetitions of " + one
	default:
		return "", false
	}
	switch re.Op {
	case syntax.OpPlus:
		return "one or more " + many, true
	case syntax.OpStar:
		return "any number of " + many, true
	case syntax.OpQuest:
		return "optionally " + one, true
	}
	switch {
	case re.Min == re.Max && re.Min == 1:
		return one, true
	case re.Min == re.Max:
		return fmt.Sprintf("%d %s", re.Min, many), true
	case re.Max < 0 && re.Min == 0:
		return "any number of " + many, true
	case re.Max < 0 && re.Min == 1:
		return "one or more " + many, true
	case re.Max < 0:
		return fmt.Sprintf("at least %d %s", re.Min, many), true
	default:
		return fmt.Sprintf("%d to %d %s", re.Min, re.Max, many), true
	}
}

// classNames names the character classes credential ids use, keyed by their sorted ranges.
var classNames = map[string][2]string{
	"0-9":       {"a digit", "digits"},
	"0-9A-Fa-f": {"a hexadecimal character", "hexadecimal characters"},
	"0-9a-f":    {"a lowercase hexadecimal character", "lowercase hexadecimal characters"},
	"0-9A-F":    {"an uppercase hexadecimal character", "uppercase hexadecimal characters"},
	"0-9A-Z":    {"an uppercase letter or digit", "uppercase letters or digits"},
	"0-9a-z":    {"a lowercase letter or digit", "lowercase letters or digits"},
	"0-9A-Za-z": {"a letter or digit", "letters or digits"},
	"0-9A-Z_a-z": {"a letter, digit or underscore",
		"letters, digits or underscores"},
	"A-Za-z": {"a letter", "letters"},
	"A-Z":    {"an uppercase letter", "uppercase letters"},
	"a-z":    {"a lowercase letter", "lowercase letters"},
}

// className returns the singular (with article) and plural names of a character class.
func className(re *syntax.Regexp) (one, many string) {
	if re.Op != syntax.OpCharClass {
		return "any character", "characters"
	}
	var b strings.Builder
	for i := 0; i+1 < len(re.Rune); i += 2 {
		lo, hi := re.Rune[i], re.Rune[i+1]
		b.WriteRune(lo)
		if hi != lo {
			b.WriteByte('-')
			b.WriteRune(hi)
		}
	}
	if n, ok := classNames[b.String()]; ok {
		return n[0], n[1]
	}
	set := re.String()
	return "a character from " + set, "characters from " + set
}
