package auth

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// SecretFile is the name of the HS256 secret file inside the data folder.
const SecretFile = "jwt-secret"

// secretLen is the size of a generated secret, in bytes.
const secretLen = 32

// LoadOrCreateSecret returns the HS256 secret kept in dataDir/jwt-secret,
// creating the folder (0700) and a file of 32 random bytes (0600) if
// missing. An existing file readable or writable by group or others is
// refused, as is one shorter than 32 bytes.
func LoadOrCreateSecret(dataDir string) ([]byte, error) {
	if dataDir == "" {
		return nil, errors.New("auth: no data folder given for the JWT secret")
	}
	path := filepath.Join(dataDir, SecretFile)
	secret, err := readSecret(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return secret, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("auth: create data folder for the JWT secret: %w", err)
	}
	if err := createSecret(dataDir, path); err != nil {
		return nil, err
	}
	// Read back what is on disk: a concurrent process may have won the race.
	return readSecret(path)
}

func readSecret(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("auth: JWT secret %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("auth: JWT secret %s is not a regular file", path)
	}
	if runtime.GOOS != "windows" && info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("auth: JWT secret %s is accessible by other users (mode %04o); run: chmod 600 %s",
			path, info.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: read JWT secret %s: %w", path, err)
	}
	if len(b) < secretLen {
		return nil, fmt.Errorf("auth: JWT secret %s is shorter than %d bytes; delete it to have a new one generated", path, secretLen)
	}
	return b, nil
}

// createSecret writes a fresh secret to a temporary file and links it into
// place, so no reader ever sees a partial file and an existing one is kept.
func createSecret(dir, path string) error {
	secret := make([]byte, secretLen)
	if _, err := rand.Read(secret); err != nil {
		return fmt.Errorf("auth: generate JWT secret: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".jwt-secret-*")
	if err != nil {
		return fmt.Errorf("auth: create JWT secret: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		tmp.Close()
		return fmt.Errorf("auth: create JWT secret: %w", err)
	}
	if _, err := tmp.Write(secret); err != nil {
		tmp.Close()
		return fmt.Errorf("auth: write JWT secret: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("auth: write JWT secret: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("auth: write JWT secret: %w", err)
	}
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		// No hard links here: fall back to an exclusive create.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			if errors.Is(err, fs.ErrExist) {
				return nil
			}
			return fmt.Errorf("auth: create JWT secret: %w", err)
		}
		if _, err := f.Write(secret); err != nil {
			f.Close()
			return fmt.Errorf("auth: write JWT secret: %w", err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("auth: write JWT secret: %w", err)
		}
	}
	return nil
}
