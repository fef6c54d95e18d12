package envelope

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"gocloud.dev/secrets"
	"gocloud.dev/secrets/localsecrets"
)

// MasterKeyFile is the name of the embedded default key file inside dataDir.
// It holds the 32-byte key base64url-encoded, so "base64key://<contents>"
// is the same key, with the same KeyID.
const MasterKeyFile = "master.key"

// OpenSealer opens the keeper for url (the current key) plus optional previous urls (still able to unwrap old records, for rotation).
//
// url == "" means the embedded default: a local 256-bit key in dataDir/master.key,
// created with 0600 permissions if missing; an existing key file that is
// group/world accessible is refused. A "" in previous means that same file,
// which must already exist (e.g. when moving from the default to a KMS).
//
// A "base64key://<base64url 32-byte key>" URL gets the KeyID
// "local:<fingerprint>"; other URLs (awskms://, gcpkms://, hashivault://,
// azurekeyvault://) get scheme://host/path, without query or user info, so
// keep a KMS URL's spelling stable: records name the key by it.
// Schemes other than base64key need their driver compiled in: see drivers.go.
func OpenSealer(ctx context.Context, url string, previous []string, dataDir string) (*Sealer, error) {
	var opened []Keeper
	fail := func(err error) (*Sealer, error) {
		for _, k := range opened {
			_ = k.K.Close()
		}
		return nil, err
	}
	for i, u := range append([]string{url}, previous...) {
		var (
			k   Keeper
			err error
		)
		if u == "" {
			k, err = defaultKeeper(dataDir, i == 0)
		} else {
			k, err = openURL(ctx, u)
		}
		if err != nil {
			if i > 0 {
				err = fmt.Errorf("previous key %d: %w", i, err)
			}
			return fail(err)
		}
		opened = append(opened, k)
	}
	return NewSealer(opened[0], opened[1:]...), nil
}

// openURL opens a keeper URL. Errors never include a base64key URL, which
// holds the key itself.
func openURL(ctx context.Context, raw string) (Keeper, error) {
	scheme, _, _ := strings.Cut(raw, "://")
	scheme = strings.ToLower(scheme)
	if scheme == localsecrets.Scheme {
		return localURLKeeper(raw)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return Keeper{}, fmt.Errorf("envelope: invalid keeper URL for scheme %q", scheme)
	}
	if !secrets.DefaultURLMux().ValidKeeperScheme(u.Scheme) {
		return Keeper{}, fmt.Errorf("envelope: no secrets driver compiled in for %q (available: %s); add its blank import to envelope/drivers.go",
			u.Scheme, strings.Join(secrets.DefaultURLMux().KeeperSchemes(), ", "))
	}
	id := (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, Opaque: u.Opaque}).String()
	k, err := secrets.DefaultURLMux().OpenKeeperURL(ctx, u)
	if err != nil {
		return Keeper{}, fmt.Errorf("envelope: open keeper %s: %w", id, err)
	}
	return Keeper{ID: id, K: k}, nil
}

func localURLKeeper(raw string) (Keeper, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Keeper{}, errors.New("envelope: invalid base64key:// URL")
	}
	if len(u.Query()) > 0 || u.Path != "" || u.User != nil {
		return Keeper{}, errors.New("envelope: base64key:// URL takes only the key as host (no path, user or query)")
	}
	if u.Host == "" {
		return Keeper{}, errors.New("envelope: base64key:// without a key would use a random key lost at restart; give the key, or use the embedded default")
	}
	key, err := decodeKey([]byte(u.Host))
	if err != nil {
		return Keeper{}, fmt.Errorf("envelope: base64key:// URL: %w", err)
	}
	defer clear(key[:])
	return LocalKeeper(key), nil
}

// decodeKey decodes a base64 (URL or standard alphabet, padded or not)
// 32-byte key. Errors never include the input.
func decodeKey(s []byte) ([32]byte, error) {
	var key [32]byte
	s = bytes.TrimSpace(s)
	buf := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	defer clear(buf)
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.StdEncoding, base64.RawURLEncoding, base64.RawStdEncoding} {
		n, err := enc.Decode(buf, s)
		if err != nil {
			continue
		}
		if n != len(key) {
			return key, errors.New("key must be 32 bytes")
		}
		copy(key[:], buf)
		return key, nil
	}
	return key, errors.New("key is not valid base64")
}

// defaultKeeper loads dataDir/master.key, creating it (0600) when create is set
// and it does not exist.
func defaultKeeper(dataDir string, create bool) (Keeper, error) {
	if dataDir == "" {
		return Keeper{}, errors.New("envelope: no data folder given for the embedded default key")
	}
	path := filepath.Join(dataDir, MasterKeyFile)
	key, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		key, err = createKeyFile(path)
		if errors.Is(err, fs.ErrExist) { // created concurrently by someone else
			key, err = readKeyFile(path)
		}
	}
	if err != nil {
		return Keeper{}, err
	}
	defer clear(key[:])
	return LocalKeeper(key), nil
}

func readKeyFile(path string) ([32]byte, error) {
	var key [32]byte
	f, err := os.Open(path)
	if err != nil {
		return key, fmt.Errorf("envelope: embedded default key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return key, fmt.Errorf("envelope: embedded default key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return key, fmt.Errorf("envelope: key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return key, fmt.Errorf("envelope: key file %s has mode %04o and is readable by group/others; refusing to use it: run chmod 600 %s",
			path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return key, fmt.Errorf("envelope: read key file %s: %w", path, err)
	}
	defer clear(b)
	key, err = decodeKey(b)
	if err != nil {
		return key, fmt.Errorf("envelope: key file %s: %w", path, err)
	}
	return key, nil
}

func createKeyFile(path string) ([32]byte, error) {
	var key [32]byte
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return key, fmt.Errorf("envelope: create data folder: %w", err)
	}
	if _, err := rand.Read(key[:]); err != nil {
		return key, fmt.Errorf("envelope: generate key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		clear(key[:])
		return key, fmt.Errorf("envelope: create key file: %w", err)
	}
	text := make([]byte, base64.URLEncoding.EncodedLen(len(key))+1)
	defer clear(text)
	base64.URLEncoding.Encode(text, key[:])
	text[len(text)-1] = '\n'
	_, err = f.Write(text)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		clear(key[:])
		return key, fmt.Errorf("envelope: write key file %s: %w", path, err)
	}
	return key, nil
}
