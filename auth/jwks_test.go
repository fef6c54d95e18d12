package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// jwksServer serves a JWKS document built with jwkset; keys can be added
// while it runs.
type jwksServer struct {
	*httptest.Server
	mu    sync.Mutex
	store *jwkset.MemoryJWKSet
	hits  atomic.Int32
}

func newJWKSServer(t *testing.T, rsaKey *rsa.PrivateKey, ecKey *ecdsa.PrivateKey) *jwksServer {
	t.Helper()
	s := &jwksServer{store: jwkset.NewMemoryStorage()}
	s.add(t, &rsaKey.PublicKey, "rsa-1", jwkset.AlgRS256)
	s.add(t, &ecKey.PublicKey, "ec-1", jwkset.AlgES256)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		body, err := s.store.JSONPublic(r.Context())
		s.mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) add(t *testing.T, pub crypto.PublicKey, kid string, alg jwkset.ALG) {
	t.Helper()
	jwk, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: alg, USE: jwkset.UseSig},
	})
	if err != nil {
		t.Fatalf("jwk: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.store.KeyWrite(context.Background(), jwk); err != nil {
		t.Fatal(err)
	}
}

func signAsym(t *testing.T, m jwt.SigningMethod, key crypto.PrivateKey, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

func TestJWKS(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srv := newJWKSServer(t, rsaKey, ecKey)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := New(ctx, Config{JWKSURL: srv.URL, Issuer: "https://idp.example", Audience: "switchboard"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	good := func(extra map[string]any) jwt.MapClaims {
		c := claims(map[string]any{"iss": "https://idp.example", "aud": "switchboard"})
		for k, v := range extra {
			c[k] = v
		}
		return c
	}

	t.Run("RS256", func(t *testing.T) {
		tok := signAsym(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", good(map[string]any{"scope": "telephony:read"}))
		v, err := a.Authenticate(reqWith("Authorization", "Bearer "+tok))
		wantViewer(t, v, err, Viewer{AccountID: "acct_1", Read: true})
	})
	t.Run("ES256", func(t *testing.T) {
		tok := signAsym(t, jwt.SigningMethodES256, ecKey, "ec-1", good(nil))
		v, err := a.Authenticate(reqWith("Authorization", "Bearer "+tok))
		wantViewer(t, v, err, rw)
	})
	t.Run("no kid tries every key", func(t *testing.T) {
		tok := signAsym(t, jwt.SigningMethodES256, ecKey, "", good(nil))
		v, err := a.AuthenticateToken(tok)
		wantViewer(t, v, err, rw)
		tok = signAsym(t, jwt.SigningMethodRS256, otherRSA, "", good(nil))
		_, err = a.AuthenticateToken(tok)
		wantReason(t, err, tok, "signature does not verify")
	})
	t.Run("signed by another key with a known kid", func(t *testing.T) {
		tok := signAsym(t, jwt.SigningMethodRS256, otherRSA, "rsa-1", good(nil))
		_, err := a.AuthenticateToken(tok)
		wantReason(t, err, tok, "signature does not verify")
		tok = signAsym(t, jwt.SigningMethodES256, otherEC, "ec-1", good(nil))
		_, err = a.AuthenticateToken(tok)
		wantReason(t, err, tok, "signature does not verify")
	})
	t.Run("alg does not match the key's alg", func(t *testing.T) {
		tok := signAsym(t, jwt.SigningMethodRS512, rsaKey, "rsa-1", good(nil))
		_, err := a.AuthenticateToken(tok)
		wantReason(t, err, tok, "match no key in the key set")
	})
	t.Run("unknown kid", func(t *testing.T) {
		before := srv.hits.Load()
		tok := signAsym(t, jwt.SigningMethodRS256, otherRSA, "nope", good(nil))
		_, err := a.AuthenticateToken(tok)
		wantReason(t, err, tok, "match no key in the key set")
		if srv.hits.Load() != before+1 {
			t.Errorf("unknown kid should trigger one JWKS refetch: hits %d -> %d", before, srv.hits.Load())
		}
		// Rate-limited afterwards: fails fast, no refetch.
		start := time.Now()
		_, err = a.AuthenticateToken(tok)
		wantReason(t, err, tok, "match no key in the key set")
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("second unknown kid took %v", d)
		}
		if srv.hits.Load() != before+1 {
			t.Errorf("rate limit not applied: hits %d -> %d", before, srv.hits.Load())
		}
	})
	t.Run("HS256 token to a JWKS-only authenticator", func(t *testing.T) {
		tok := signHS(t, testSecret, good(nil))
		_, err := a.AuthenticateToken(tok)
		wantReason(t, err, tok, "signing algorithm HS256 is not accepted")
		// Alg confusion: HS256 keyed with the RSA public key.
		tok = rawHS(t, pubDER(t, &rsaKey.PublicKey), map[string]any{"alg": "HS256", "kid": "rsa-1"}, good(nil))
		_, err = a.AuthenticateToken(tok)
		wantReason(t, err, tok, "signing algorithm HS256 is not accepted")
	})
	t.Run("alg none", func(t *testing.T) {
		tok := rawToken(map[string]any{"alg": "none", "kid": "rsa-1"}, good(nil), "")
		_, err := a.AuthenticateToken(tok)
		wantReason(t, err, tok, "signing algorithm none is not accepted")
	})
	t.Run("issuer and audience", func(t *testing.T) {
		tok := signAsym(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", good(map[string]any{"iss": "https://other.example"}))
		_, err := a.AuthenticateToken(tok)
		wantReason(t, err, tok, "issuer (iss) is not accepted")
		tok = signAsym(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", good(map[string]any{"aud": "someone-else"}))
		_, err = a.AuthenticateToken(tok)
		wantReason(t, err, tok, "audience (aud) is not accepted")
	})
	t.Run("expired", func(t *testing.T) {
		tok := signAsym(t, jwt.SigningMethodES256, ecKey, "ec-1", good(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}))
		_, err := a.AuthenticateToken(tok)
		wantReason(t, err, tok, "the token has expired")
	})
}

func TestJWKSKeyRotation(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv := newJWKSServer(t, rsaKey, ecKey)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := New(ctx, Config{JWKSURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	newKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	srv.add(t, &newKey.PublicKey, "ec-2", jwkset.AlgES384)
	tok := signAsym(t, jwt.SigningMethodES384, newKey, "ec-2", claims(nil))
	v, err := a.AuthenticateToken(tok)
	wantViewer(t, v, err, rw)
}

func TestJWKSUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/jwks.json"
	srv.Close()
	_, err := New(context.Background(), Config{JWKSURL: url})
	if err == nil || !strings.Contains(err.Error(), "SWITCHBOARD_JWKS_URL") {
		t.Fatalf("got %v, want an error naming SWITCHBOARD_JWKS_URL", err)
	}

	for name, h := range map[string]http.HandlerFunc{
		"500":      func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) },
		"not json": func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("<html>")) },
		"empty":    func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{"keys":[]}`)) },
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(h)
			defer srv.Close()
			_, err := New(context.Background(), Config{JWKSURL: srv.URL})
			if err == nil || !strings.Contains(err.Error(), "SWITCHBOARD_JWKS_URL") {
				t.Fatalf("got %v, want an error naming SWITCHBOARD_JWKS_URL", err)
			}
		})
	}

	// Credentials in the URL are not echoed.
	_, err = New(context.Background(), Config{JWKSURL: "http://user:hunter2@" + strings.TrimPrefix(url, "http://")})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("got %v, want an error without the URL password", err)
	}
}
