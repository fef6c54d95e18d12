// Package envelope seals small secrets (carrier credentials) with envelope
// encryption: every record gets a fresh random 256-bit data key, the secret is
// encrypted with AES-256-GCM under that key with the record's identity as
// associated data, and the data key is wrapped by a key-encryption keeper
// (a gocloud.dev/secrets Keeper: a local key, or a KMS).
//
// A sealed record remembers which key-encryption key wrapped its data key
// (Sealed.KeyID), so keys can be rotated: configure the new key as current and
// the old one as previous, Rewrap every record, then drop the old key.
package envelope

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"gocloud.dev/gcerrors"
	"gocloud.dev/secrets"
	"gocloud.dev/secrets/localsecrets"
)

const (
	dataKeySize = 32 // AES-256
	nonceSize   = 12 // standard GCM nonce
	tagSize     = 16 // GCM tag
)

// ErrKeeperUnavailable means the key-encryption keeper could not wrap or
// unwrap a data key (service down, network, closed keeper, ...). Callers
// report UNAVAILABLE and write nothing. The keeper's error is kept in the
// chain for logs; it never contains secret bytes.
var ErrKeeperUnavailable = errors.New("envelope: key-encryption keeper unavailable")

// ErrCannotOpen means a sealed secret does not open: wrong identity, tampered
// ciphertext or wrapped key, a wrapped key the keeper rejects as not its own,
// or a KeyID that is not configured. Callers report INTERNAL. Its messages
// never contain secret bytes.
var ErrCannotOpen = errors.New("envelope: sealed secret cannot be opened")

// Sealed is what gets stored: nothing in it opens without the keeper and the same identity.
type Sealed struct {
	Ciphertext []byte // nonce || AES-256-GCM ciphertext+tag
	WrappedKey []byte // the record's data key, encrypted by the key-encryption keeper
	KeyID      string // which key-encryption key wrapped it; never contains key material
}

// Keeper is a key-encryption keeper together with its stable identifier.
type Keeper struct {
	// ID is stored in Sealed.KeyID; it must never contain key material.
	ID string
	// K wraps and unwraps data keys.
	K *secrets.Keeper
	// Local marks an in-process key with no service behind it. Such a keeper
	// cannot be "unavailable", so any failure to unwrap with it means the
	// wrapped key is not its own or was tampered with: ErrCannotOpen.
	Local bool
}

// LocalKeeper returns a Keeper for a local 256-bit key, with the ID
// "local:<first 16 hex chars of SHA-256(key)>". The caller may zero key afterwards.
func LocalKeeper(key [32]byte) Keeper {
	return Keeper{ID: localKeyID(key[:]), K: localsecrets.NewKeeper(key), Local: true}
}

func localKeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return "local:" + hex.EncodeToString(sum[:8])
}

// Sealer seals and opens secrets. It is safe for concurrent use.
type Sealer struct {
	current   Keeper
	byID      map[string]Keeper
	all       []*secrets.Keeper // distinct keepers, closed by Close
	closeOnce sync.Once
	closeErr  error
}

// NewSealer returns a Sealer that wraps new data keys with current and can
// unwrap with current or any of previous. When IDs repeat, the first keeper
// given wins. Close closes all the keepers. It panics if a keeper has an empty
// ID or a nil K (a programming error).
func NewSealer(current Keeper, previous ...Keeper) *Sealer {
	s := &Sealer{current: current, byID: map[string]Keeper{}}
	seen := map[*secrets.Keeper]bool{}
	for _, k := range append([]Keeper{current}, previous...) {
		if k.ID == "" || k.K == nil {
			panic("envelope: NewSealer: keeper with empty ID or nil K")
		}
		if _, dup := s.byID[k.ID]; !dup {
			s.byID[k.ID] = k
		}
		if !seen[k.K] {
			seen[k.K] = true
			s.all = append(s.all, k.K)
		}
	}
	return s
}

// CurrentKeyID returns the KeyID that Seal and Rewrap write.
func (s *Sealer) CurrentKeyID() string { return s.current.ID }

// Seal encrypts plaintext under a fresh data key with identity as associated
// data, and wraps the data key with the current keeper. A keeper failure
// returns an error matching ErrKeeperUnavailable.
func (s *Sealer) Seal(ctx context.Context, plaintext, identity []byte) (Sealed, error) {
	dk := make([]byte, dataKeySize)
	defer clear(dk)
	if _, err := rand.Read(dk); err != nil {
		return Sealed{}, fmt.Errorf("envelope: generate data key: %w", err)
	}
	aead, err := newAEAD(dk)
	if err != nil {
		return Sealed{}, err
	}
	nonce := make([]byte, nonceSize, nonceSize+len(plaintext)+tagSize)
	if _, err := rand.Read(nonce); err != nil {
		return Sealed{}, fmt.Errorf("envelope: generate nonce: %w", err)
	}
	ct := aead.Seal(nonce, nonce, plaintext, identity)

	wrapped, err := s.current.K.Encrypt(ctx, dk)
	if err != nil {
		return Sealed{}, fmt.Errorf("%w: wrap data key with %s: %w", ErrKeeperUnavailable, s.current.ID, err)
	}
	return Sealed{Ciphertext: ct, WrappedKey: wrapped, KeyID: s.current.ID}, nil
}

// Open decrypts sealed, which must have been sealed with the same identity.
// It unwraps the data key with the keeper named by sealed.KeyID.
func (s *Sealer) Open(ctx context.Context, sealed Sealed, identity []byte) ([]byte, error) {
	if len(sealed.Ciphertext) < nonceSize+tagSize {
		return nil, fmt.Errorf("%w: ciphertext too short", ErrCannotOpen)
	}
	dk, err := s.unwrap(ctx, sealed)
	if err != nil {
		return nil, err
	}
	defer clear(dk)
	aead, err := newAEAD(dk)
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, sealed.Ciphertext[:nonceSize], sealed.Ciphertext[nonceSize:], identity)
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed (wrong identity or tampered ciphertext)", ErrCannotOpen)
	}
	return pt, nil
}

// Rewrap re-wraps sealed's data key under the current key; the ciphertext is
// unchanged (and not authenticated here: that needs the identity). A record
// already under the current key is returned as is.
func (s *Sealer) Rewrap(ctx context.Context, sealed Sealed) (Sealed, error) {
	if sealed.KeyID == s.current.ID {
		return sealed, nil
	}
	dk, err := s.unwrap(ctx, sealed)
	if err != nil {
		return Sealed{}, err
	}
	defer clear(dk)
	wrapped, err := s.current.K.Encrypt(ctx, dk)
	if err != nil {
		return Sealed{}, fmt.Errorf("%w: wrap data key with %s: %w", ErrKeeperUnavailable, s.current.ID, err)
	}
	return Sealed{Ciphertext: bytes.Clone(sealed.Ciphertext), WrappedKey: wrapped, KeyID: s.current.ID}, nil
}

// Close closes every keeper of the Sealer. Later calls return the first result.
func (s *Sealer) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		for _, k := range s.all {
			errs = append(errs, k.Close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// unwrap returns the data key of sealed; the caller zeroes it.
//
// Classification of keeper errors: a keeper with no service behind it
// (Keeper.Local) cannot be unavailable, so its failures (wrong key, tampered
// wrapped key) are ErrCannotOpen; for remote keepers an InvalidArgument code
// (e.g. AWS KMS InvalidCiphertextException: wrong key or tampered) is
// ErrCannotOpen and everything else (network, throttling, permissions, closed
// keeper, cancelled context) is ErrKeeperUnavailable.
func (s *Sealer) unwrap(ctx context.Context, sealed Sealed) ([]byte, error) {
	k, ok := s.byID[sealed.KeyID]
	if !ok {
		return nil, fmt.Errorf("%w: data key was wrapped by key %q, which is not configured; configure that key (as a previous key) to open it",
			ErrCannotOpen, sealed.KeyID)
	}
	if len(sealed.WrappedKey) == 0 {
		return nil, fmt.Errorf("%w: empty wrapped key", ErrCannotOpen)
	}
	dk, err := k.K.Decrypt(ctx, sealed.WrappedKey)
	if err != nil {
		code := gcerrors.Code(err)
		if ctx.Err() == nil && (code == gcerrors.InvalidArgument || (k.Local && code != gcerrors.FailedPrecondition)) {
			return nil, fmt.Errorf("%w: key %s could not unwrap the data key (wrong key or tampered wrapped key): %w", ErrCannotOpen, k.ID, err)
		}
		return nil, fmt.Errorf("%w: unwrap data key with %s: %w", ErrKeeperUnavailable, k.ID, err)
	}
	if len(dk) != dataKeySize {
		clear(dk)
		return nil, fmt.Errorf("%w: unwrapped data key has the wrong size", ErrCannotOpen)
	}
	return dk, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	return aead, nil
}

// Identity encodes parts as unambiguous associated data: each part is
// prefixed by its length (4 bytes, big-endian), so ("ab","c") != ("a","bc").
// Example: Identity("provider", accountID, providerID).
func Identity(parts ...string) []byte {
	n := 0
	for _, p := range parts {
		n += 4 + len(p)
	}
	b := make([]byte, 0, n)
	for _, p := range parts {
		b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return b
}
