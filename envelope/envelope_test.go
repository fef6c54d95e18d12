package envelope

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"gocloud.dev/gcerrors"
	"gocloud.dev/secrets"
	"gocloud.dev/secrets/driver"
)

var ctx = context.Background()

// fakeDriver is a tiny secrets driver: Encrypt/Decrypt fail with err when set,
// otherwise they are the identity with a "fake:" prefix.
type fakeDriver struct {
	err  error
	code gcerrors.ErrorCode
}

func (f *fakeDriver) Encrypt(_ context.Context, p []byte) ([]byte, error) {
	if f.err != nil {
		return nil, f.err
	}
	return append([]byte("fake:"), p...), nil
}

func (f *fakeDriver) Decrypt(_ context.Context, c []byte) ([]byte, error) {
	if f.err != nil {
		return nil, f.err
	}
	p, ok := bytes.CutPrefix(c, []byte("fake:"))
	if !ok {
		return nil, errors.New("fake: bad ciphertext")
	}
	return bytes.Clone(p), nil
}

func (f *fakeDriver) Close() error                       { return nil }
func (f *fakeDriver) ErrorAs(error, any) bool            { return false }
func (f *fakeDriver) ErrorCode(error) gcerrors.ErrorCode { return f.code }
func fakeKeeper(id string, f *fakeDriver) Keeper         { return Keeper{ID: id, K: secrets.NewKeeper(f)} }
func key(b byte) (k [32]byte)                            { k[0], k[31] = b, b; return k }
func keyURL(k [32]byte) string                           { return "base64key://" + base64.URLEncoding.EncodeToString(k[:]) }

var _ driver.Keeper = (*fakeDriver)(nil)

// fakekms is registered on the default mux to test URL-based KeyIDs.
type fakeOpener struct{}

func (fakeOpener) OpenKeeperURL(_ context.Context, _ *url.URL) (*secrets.Keeper, error) {
	return secrets.NewKeeper(&fakeDriver{}), nil
}

func init() { secrets.DefaultURLMux().RegisterKeeper("fakekms", fakeOpener{}) }

func newLocal(t testing.TB, b byte) *Sealer {
	t.Helper()
	s := NewSealer(LocalKeeper(key(b)))
	t.Cleanup(func() { s.Close() })
	return s
}

func mustSeal(t testing.TB, s *Sealer, pt, id []byte) Sealed {
	t.Helper()
	sealed, err := s.Seal(ctx, pt, id)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return sealed
}

func wantCannotOpen(t *testing.T, err error, what string) {
	t.Helper()
	if !errors.Is(err, ErrCannotOpen) {
		t.Fatalf("%s: got %v, want ErrCannotOpen", what, err)
	}
	if errors.Is(err, ErrKeeperUnavailable) {
		t.Fatalf("%s: %v is also ErrKeeperUnavailable", what, err)
	}
}

func TestRoundTripAndFreshness(t *testing.T) {
	s := newLocal(t, 1)
	pt := []byte(`{"account_sid":"AC0123","auth_token":"s3cr3t"}`)
	id := Identity("provider", "acct-1", "prov-1")
	a := mustSeal(t, s, pt, id)
	b := mustSeal(t, s, pt, id)
	for _, x := range []Sealed{a, b} {
		got, err := s.Open(ctx, x, id)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("Open = %q, %v; want %q", got, err, pt)
		}
		if len(x.Ciphertext) != nonceSize+len(pt)+tagSize {
			t.Fatalf("ciphertext length %d", len(x.Ciphertext))
		}
		if x.KeyID != s.CurrentKeyID() {
			t.Fatalf("KeyID %q, want %q", x.KeyID, s.CurrentKeyID())
		}
	}
	if bytes.Equal(a.Ciphertext, b.Ciphertext) || bytes.Equal(a.Ciphertext[:nonceSize], b.Ciphertext[:nonceSize]) {
		t.Fatal("two seals share ciphertext or nonce")
	}
	if bytes.Equal(a.WrappedKey, b.WrappedKey) {
		t.Fatal("two seals share the wrapped data key")
	}
	// Empty plaintext round-trips too.
	e := mustSeal(t, s, nil, id)
	if got, err := s.Open(ctx, e, id); err != nil || len(got) != 0 {
		t.Fatalf("empty: %q, %v", got, err)
	}
}

func TestWrongIdentity(t *testing.T) {
	s := newLocal(t, 1)
	sealed := mustSeal(t, s, []byte("Zq7-token-Zq7"), Identity("provider", "acct-1", "prov-1"))
	for _, other := range [][]byte{
		Identity("provider", "acct-2", "prov-1"), // another tenant
		Identity("provider", "acct-1", "prov-2"), // another row
		Identity("provider", "acct-1prov-1"),
		nil,
	} {
		_, err := s.Open(ctx, sealed, other)
		wantCannotOpen(t, err, fmt.Sprintf("identity %x", other))
		if strings.Contains(err.Error(), "Zq7") {
			t.Fatalf("error leaks plaintext: %v", err)
		}
	}
}

func TestIdentityUnambiguous(t *testing.T) {
	pairs := [][2][]byte{
		{Identity("ab", "c"), Identity("a", "bc")},
		{Identity("a", ""), Identity("a")},
		{Identity(""), Identity()},
		{Identity("a\x00\x00\x00\x01b"), Identity("a", "b")},
	}
	for _, p := range pairs {
		if bytes.Equal(p[0], p[1]) {
			t.Fatalf("Identity collision: %x", p[0])
		}
	}
	if got, want := Identity("ab", "c"), []byte("\x00\x00\x00\x02ab\x00\x00\x00\x01c"); !bytes.Equal(got, want) {
		t.Fatalf("Identity = %x, want %x", got, want)
	}
}

func TestTampered(t *testing.T) {
	s := newLocal(t, 1)
	id := Identity("provider", "a", "p")
	sealed := mustSeal(t, s, []byte("hello carrier"), id)

	for _, i := range []int{0, nonceSize - 1, nonceSize, len(sealed.Ciphertext) - 1} {
		bad := sealed
		bad.Ciphertext = bytes.Clone(sealed.Ciphertext)
		bad.Ciphertext[i] ^= 0x01
		_, err := s.Open(ctx, bad, id)
		wantCannotOpen(t, err, fmt.Sprintf("ciphertext byte %d", i))
	}
	for _, i := range []int{0, len(sealed.WrappedKey) / 2, len(sealed.WrappedKey) - 1} {
		bad := sealed
		bad.WrappedKey = bytes.Clone(sealed.WrappedKey)
		bad.WrappedKey[i] ^= 0x80
		_, err := s.Open(ctx, bad, id)
		wantCannotOpen(t, err, fmt.Sprintf("wrapped key byte %d", i))
	}
	cases := map[string]Sealed{
		"short ciphertext":  {Ciphertext: sealed.Ciphertext[:nonceSize+tagSize-1], WrappedKey: sealed.WrappedKey, KeyID: sealed.KeyID},
		"empty wrapped key": {Ciphertext: sealed.Ciphertext, KeyID: sealed.KeyID},
		"short wrapped key": {Ciphertext: sealed.Ciphertext, WrappedKey: sealed.WrappedKey[:10], KeyID: sealed.KeyID},
	}
	for name, bad := range cases {
		_, err := s.Open(ctx, bad, id)
		wantCannotOpen(t, err, name)
	}
	// Another local key's wrapped data key (wrong key, same KeyID claimed).
	other := mustSeal(t, newLocal(t, 2), []byte("x"), id)
	bad := sealed
	bad.WrappedKey = other.WrappedKey
	_, err := s.Open(ctx, bad, id)
	wantCannotOpen(t, err, "wrapped by another key")

	// Unknown KeyID: named in the error, with the hint.
	bad = sealed
	bad.KeyID = "local:0123456789abcdef"
	_, err = s.Open(ctx, bad, id)
	wantCannotOpen(t, err, "unknown key")
	if !strings.Contains(err.Error(), bad.KeyID) || !strings.Contains(err.Error(), "configure") {
		t.Fatalf("unknown key error %q lacks KeyID or hint", err)
	}
	if _, err := s.Rewrap(ctx, bad); !errors.Is(err, ErrCannotOpen) {
		t.Fatalf("Rewrap unknown key: %v", err)
	}
}

func TestKeeperUnavailable(t *testing.T) {
	id := Identity("provider", "a", "p")
	pt := []byte("top secret token")

	// A closed keeper.
	s := NewSealer(LocalKeeper(key(1)))
	sealed := mustSeal(t, s, pt, id)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // idempotent
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Seal(ctx, pt, id); !errors.Is(err, ErrKeeperUnavailable) || errors.Is(err, ErrCannotOpen) {
		t.Fatalf("Seal with closed keeper: %v", err)
	}
	if _, err := s.Open(ctx, sealed, id); !errors.Is(err, ErrKeeperUnavailable) {
		t.Fatalf("Open with closed keeper: %v", err)
	}

	// A driver whose service is down.
	down := errors.New("dial tcp 10.0.0.1:443: connection refused")
	f := &fakeDriver{}
	s = NewSealer(fakeKeeper("fakekms://kms/key", f))
	defer s.Close()
	sealed = mustSeal(t, s, pt, id)
	f.err, f.code = down, gcerrors.Internal
	_, err := s.Seal(ctx, pt, id)
	if !errors.Is(err, ErrKeeperUnavailable) || !errors.Is(err, down) {
		t.Fatalf("Seal: %v; want ErrKeeperUnavailable wrapping the cause", err)
	}
	if strings.Contains(err.Error(), string(pt)) {
		t.Fatalf("error leaks plaintext: %v", err)
	}
	if _, err := s.Open(ctx, sealed, id); !errors.Is(err, ErrKeeperUnavailable) {
		t.Fatalf("Open: %v", err)
	}
	if _, err := s.Rewrap(ctx, Sealed{Ciphertext: sealed.Ciphertext, WrappedKey: sealed.WrappedKey, KeyID: "fakekms://kms/key"}); err != nil {
		t.Fatalf("Rewrap to the same key should be a no-op: %v", err)
	}
	// Unknown error codes from a remote keeper are treated as unavailable.
	f.code = gcerrors.Unknown
	if _, err := s.Open(ctx, sealed, id); !errors.Is(err, ErrKeeperUnavailable) {
		t.Fatalf("Open (unknown code): %v", err)
	}
	// The remote keeper says the ciphertext is not its own: cannot open.
	f.err, f.code = errors.New("InvalidCiphertextException"), gcerrors.InvalidArgument
	_, err = s.Open(ctx, sealed, id)
	wantCannotOpen(t, err, "remote InvalidArgument")
}

func TestEmbeddedDefault(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	id := Identity("provider", "a", "p")
	s1, err := OpenSealer(ctx, "", nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, MasterKeyFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("master.key mode %04o, want 0600", fi.Mode().Perm())
	}
	if !regexp.MustCompile(`^local:[0-9a-f]{16}$`).MatchString(s1.CurrentKeyID()) {
		t.Fatalf("KeyID %q", s1.CurrentKeyID())
	}
	sealed := mustSeal(t, s1, []byte("pw"), id)
	contents, _ := os.ReadFile(path)
	s1.Close()

	s2, err := OpenSealer(ctx, "", nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got, err := s2.Open(ctx, sealed, id); err != nil || string(got) != "pw" {
		t.Fatalf("reopen: %q, %v", got, err)
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, contents) {
		t.Fatal("master.key was rewritten")
	}
	if strings.Contains(sealed.KeyID, strings.TrimSpace(string(contents))) {
		t.Fatal("KeyID contains the key")
	}

	// The file's contents as a base64key:// URL is the same key, same KeyID.
	s3, err := OpenSealer(ctx, "base64key://"+strings.TrimSpace(string(contents)), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if s3.CurrentKeyID() != sealed.KeyID {
		t.Fatalf("URL KeyID %q != default %q", s3.CurrentKeyID(), sealed.KeyID)
	}
	if _, err := s3.Open(ctx, sealed, id); err != nil {
		t.Fatal(err)
	}

	if runtime.GOOS != "windows" {
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err = OpenSealer(ctx, "", nil, dir)
		if err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("0644 key file: err = %v, want refusal mentioning chmod 600", err)
		}
		if strings.Contains(err.Error(), strings.TrimSpace(string(contents))) {
			t.Fatal("error leaks the key")
		}
	}

	// A "" previous key must already exist; no data folder is an error.
	if _, err := OpenSealer(ctx, keyURL(key(9)), []string{""}, t.TempDir()); err == nil {
		t.Fatal("missing previous default key: want error")
	}
	if _, err := OpenSealer(ctx, "", nil, ""); err == nil {
		t.Fatal("no data folder: want error")
	}
}

func TestRotation(t *testing.T) {
	urlA, urlB := keyURL(key(0xA)), keyURL(key(0xB))
	id := Identity("provider", "acct", "prov")
	sa, err := OpenSealer(ctx, urlA, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Close()
	old := mustSeal(t, sa, []byte("rotate me"), id)

	sab, err := OpenSealer(ctx, urlB, []string{urlA}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer sab.Close()
	if got, err := sab.Open(ctx, old, id); err != nil || string(got) != "rotate me" {
		t.Fatalf("open old with previous: %q, %v", got, err)
	}
	moved, err := sab.Rewrap(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	if moved.KeyID != sab.CurrentKeyID() || moved.KeyID == old.KeyID {
		t.Fatalf("Rewrap KeyID %q (old %q, current %q)", moved.KeyID, old.KeyID, sab.CurrentKeyID())
	}
	if !bytes.Equal(moved.Ciphertext, old.Ciphertext) {
		t.Fatal("Rewrap changed the ciphertext")
	}
	if again, err := sab.Rewrap(ctx, moved); err != nil || again.KeyID != moved.KeyID || !bytes.Equal(again.WrappedKey, moved.WrappedKey) {
		t.Fatalf("Rewrap of a current record should be a no-op: %v", err)
	}

	sb, err := OpenSealer(ctx, urlB, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	if got, err := sb.Open(ctx, moved, id); err != nil || string(got) != "rotate me" {
		t.Fatalf("open rewrapped with B only: %q, %v", got, err)
	}
	_, err = sb.Open(ctx, old, id)
	wantCannotOpen(t, err, "old record with B only")
	if !strings.Contains(err.Error(), old.KeyID) {
		t.Fatalf("error %q does not name KeyID %q", err, old.KeyID)
	}
	// Rewrapped record still bound to its identity.
	_, err = sb.Open(ctx, moved, Identity("provider", "other", "prov"))
	wantCannotOpen(t, err, "rewrapped, wrong identity")
}

func TestKeyIDHasNoKeyMaterial(t *testing.T) {
	k := key(0x5A)
	for i := range k {
		k[i] = byte(i*7 + 3)
	}
	forms := []string{
		base64.URLEncoding.EncodeToString(k[:]),
		base64.StdEncoding.EncodeToString(k[:]),
		base64.RawURLEncoding.EncodeToString(k[:]),
		hex.EncodeToString(k[:]),
	}
	s, err := OpenSealer(ctx, "base64key://"+forms[0], nil, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	kid := s.CurrentKeyID()
	if !regexp.MustCompile(`^local:[0-9a-f]{16}$`).MatchString(kid) {
		t.Fatalf("KeyID %q is not a local fingerprint", kid)
	}
	for _, f := range forms {
		for n := 8; n <= len(f); n += 8 { // no 8-char window of any encoding
			for i := 0; i+n <= len(f); i += 4 {
				if strings.Contains(kid, f[i:i+n]) {
					t.Fatalf("KeyID %q contains key material %q", kid, f[i:i+n])
				}
			}
		}
	}
	if strings.Contains(kid, string(k[:])) {
		t.Fatal("KeyID contains raw key")
	}

	// Bad base64key URLs: errors never echo the URL.
	short := base64.URLEncoding.EncodeToString(k[:31])
	for _, u := range []string{
		"base64key://" + short,
		"base64key://" + forms[0] + "?x=1",
		"base64key://" + forms[0] + "/path",
		"base64key://",
		"base64key://%zz" + forms[0],
	} {
		_, err := OpenSealer(ctx, u, nil, "")
		if err == nil {
			t.Fatalf("OpenSealer(%q) succeeded", u)
		}
		if strings.Contains(err.Error(), forms[0][:16]) || strings.Contains(err.Error(), short[:16]) {
			t.Fatalf("error leaks key: %v", err)
		}
	}

	// Other schemes: scheme://host/path, no query or user info.
	s2, err := OpenSealer(ctx, "fakekms://user:pw@kms.example/keys/k1?region=eu&token=t0k", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := s2.CurrentKeyID(); got != "fakekms://kms.example/keys/k1" {
		t.Fatalf("KeyID %q", got)
	}
	_, err = OpenSealer(ctx, "awskms:///arn:aws:kms:eu-west-1:1:key/x", nil, "")
	if err == nil || !strings.Contains(err.Error(), "drivers.go") {
		t.Fatalf("uncompiled driver: %v", err)
	}
}

func TestPlaintextNotInSealed(t *testing.T) {
	s := newLocal(t, 3)
	pt := []byte("auth_token=0123456789abcdef0123456789abcdef")
	sealed := mustSeal(t, s, pt, Identity("provider", "a", "p"))
	for _, part := range [][]byte{sealed.Ciphertext, sealed.WrappedKey, []byte(sealed.KeyID)} {
		for i := 0; i+8 <= len(pt); i++ {
			if bytes.Contains(part, pt[i:i+8]) {
				t.Fatalf("sealed data contains plaintext fragment %q", pt[i:i+8])
			}
		}
	}
}

func TestConcurrent(t *testing.T) {
	s := NewSealer(LocalKeeper(key(4)), LocalKeeper(key(5)))
	defer s.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				id := Identity("provider", fmt.Sprint(g), fmt.Sprint(i))
				pt := []byte(fmt.Sprintf("secret-%d-%d", g, i))
				sealed, err := s.Seal(ctx, pt, id)
				if err == nil {
					var got []byte
					got, err = s.Open(ctx, sealed, id)
					if err == nil && !bytes.Equal(got, pt) {
						err = fmt.Errorf("got %q want %q", got, pt)
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func BenchmarkSeal(b *testing.B) {
	s := newLocal(b, 1)
	pt := []byte(`{"auth_id":"MAXXXXXXXXXXXXXXXXXX","auth_token":"abcdefghijklmnopqrstuvwxyz0123456789"}`)
	id := Identity("provider", "acct", "prov")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Seal(ctx, pt, id); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	s := newLocal(b, 1)
	pt := []byte(`{"auth_id":"MAXXXXXXXXXXXXXXXXXX","auth_token":"abcdefghijklmnopqrstuvwxyz0123456789"}`)
	id := Identity("provider", "acct", "prov")
	sealed := mustSeal(b, s, pt, id)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Open(ctx, sealed, id); err != nil {
			b.Fatal(err)
		}
	}
}
