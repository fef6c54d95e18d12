package auth

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreateSecret(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes are not meaningful on Windows")
	}
	dir := filepath.Join(t.TempDir(), "data", "nested")
	s1, err := LoadOrCreateSecret(dir)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if len(s1) != 32 {
		t.Fatalf("secret length %d, want 32", len(s1))
	}
	path := filepath.Join(dir, "jwt-secret")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret mode %04o, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %04o, want 0700", di.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("data dir holds %d entries, want only jwt-secret", len(entries))
	}

	s2, err := LoadOrCreateSecret(dir)
	if err != nil {
		t.Fatalf("reuse: %v", err)
	}
	if !bytes.Equal(s1, s2) {
		t.Fatal("secret changed on reuse")
	}

	// The secret works for minting and verifying.
	tok, err := Mint(s2, "acct_1", nil, 3600e9)
	if err != nil {
		t.Fatal(err)
	}
	a := newHS(t, Config{HS256Secret: s1})
	v, err := a.AuthenticateToken(tok)
	wantViewer(t, v, err, rw)

	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err = LoadOrCreateSecret(dir)
		if err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("mode %04o: got %v, want a refusal mentioning chmod 600", mode, err)
		}
		if strings.Contains(err.Error(), string(s1)) {
			t.Fatal("error contains the secret")
		}
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if s3, err := LoadOrCreateSecret(dir); err != nil || !bytes.Equal(s1, s3) {
		t.Fatalf("after chmod 600: %v", err)
	}

	// A truncated file is refused rather than used as a weak key.
	short := t.TempDir()
	if err := os.WriteFile(filepath.Join(short, "jwt-secret"), []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateSecret(short); err == nil {
		t.Fatal("short secret accepted")
	}

	if _, err := LoadOrCreateSecret(""); err == nil {
		t.Fatal("empty data dir accepted")
	}
}

func TestLoadOrCreateSecretConcurrent(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	var wg sync.WaitGroup
	got := make([][]byte, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = LoadOrCreateSecret(dir)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("goroutine %d: %v", i, errs[i])
		}
		if !bytes.Equal(got[i], got[0]) {
			t.Fatal("concurrent callers got different secrets")
		}
	}
}
