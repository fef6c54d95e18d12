package carriertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"unicode"

	"github.com/switchboard-dev/switchboard/carriers"
)

// Helpers of the carriers' fuzz targets: they build credentials documents from fuzzed values and
// check that nothing a parser says shows a submitted value.

// Disguise changes a submitted value into another one the parser must treat the same way, apart
// from showing it: the first keep characters after leading white space stay, and after them each
// ASCII digit, a–f, A–F, g–z and G–Z moves to the next one in its group (9→0, f→a, z→g, …).
// White space, length and the carriers' ID patterns' verdicts are unchanged (keep 3 leaves a
// pattern's fixed prefix alone), so a message that differs between a value and its disguise
// shows (part of) the value.
func Disguise(v string, keep int) string {
	b := []byte(v)
	start := len(v) - len(strings.TrimLeftFunc(v, unicode.IsSpace)) + keep
	for i := start; i < len(b); i++ {
		for _, g := range []string{"0123456789", "abcdef", "ABCDEF", "ghijklmnopqrstuvwxyz", "GHIJKLMNOPQRSTUVWXYZ"} {
			if j := strings.IndexByte(g, b[i]); j >= 0 {
				b[i] = g[(j+1)%len(g)]
				break
			}
		}
	}
	return string(b)
}

// CredentialsDoc writes a credentials document with values[i] for keys[i]. Two bits
// of layout per key choose how it appears: 0 absent, 1 a string, 2 null, 3 the string in an
// array. Bit 8 repeats the first key, bit 9 adds an unknown key holding the last value, bit 10
// reverses the order of the keys.
func CredentialsDoc(keys, values []string, layout uint16) []byte {
	type kv struct {
		k string
		v any
	}
	var kvs []kv
	for i, k := range keys {
		switch layout >> (2 * i) & 3 {
		case 1:
			kvs = append(kvs, kv{k, values[i]})
		case 2:
			kvs = append(kvs, kv{k, nil})
		case 3:
			kvs = append(kvs, kv{k, []string{values[i]}})
		}
	}
	if layout&0x100 != 0 && len(kvs) > 0 {
		kvs = append(kvs, kvs[0])
	}
	if layout&0x200 != 0 {
		kvs = append(kvs, kv{"x_unknown", values[len(values)-1]})
	}
	if layout&0x400 != 0 {
		slices.Reverse(kvs)
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range kvs {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(e.k)
		v, _ := json.Marshal(e.v)
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// Sent is v as the parser receives it after JSON encoding (invalid UTF-8 becomes U+FFFD).
func Sent(v string) string {
	b, _ := json.Marshal(v)
	var s string
	_ = json.Unmarshal(b, &s)
	return s
}

// Shown is everything the credentials show of themselves.
func Shown(c carriers.Credentials) []string {
	out := []string{c.Hint(), c.(fmt.Stringer).String(), c.(fmt.GoStringer).GoString(), c.(slog.LogValuer).LogValue().String()}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out = append(out, fmt.Sprintf(verb, c))
	}
	return out
}
