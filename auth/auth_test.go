package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func newHS(t *testing.T, cfg Config) *Authenticator {
	t.Helper()
	if cfg.HS256Secret == nil && cfg.JWKSURL == "" && !cfg.TrustAccountHeader {
		cfg.HS256Secret = testSecret
	}
	a, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func claims(extra map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{
		"sub":        "acct_1",
		"account_id": "acct_1",
		"iat":        time.Now().Unix(),
		"exp":        time.Now().Add(time.Hour).Unix(),
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func signHS(t *testing.T, secret []byte, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

// checkSafe fails when an error message leaks the token (or a part of it) or the secret.
func checkSafe(t *testing.T, err error, tok string) {
	t.Helper()
	msg := err.Error()
	if strings.Contains(msg, string(testSecret)) {
		t.Errorf("error message contains the secret: %q", msg)
	}
	if tok == "" {
		return
	}
	if strings.Contains(msg, tok) {
		t.Errorf("error message contains the token: %q", msg)
	}
	for _, part := range strings.Split(tok, ".") {
		if len(part) >= 8 && strings.Contains(msg, part) {
			t.Errorf("error message contains a token segment: %q", msg)
		}
	}
}

// wantReason asserts err is an *Error whose reason contains want.
func wantReason(t *testing.T, err error, tok, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want error containing %q, got nil", want)
	}
	var ae *Error
	if !errors.As(err, &ae) {
		t.Fatalf("want *Error, got %T: %v", err, err)
	}
	if !strings.Contains(ae.Reason, want) {
		t.Errorf("reason = %q, want it to contain %q", ae.Reason, want)
	}
	checkSafe(t, err, tok)
}

func wantViewer(t *testing.T, got Viewer, err error, want Viewer) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if got != want {
		t.Fatalf("viewer = %+v, want %+v", got, want)
	}
}

func reqWith(headers ...string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/graphql", nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	return r
}

var rw = Viewer{AccountID: "acct_1", Read: true, Write: true}

func TestHS256Valid(t *testing.T) {
	a := newHS(t, Config{})
	tok := signHS(t, testSecret, claims(nil))
	v, err := a.Authenticate(reqWith("Authorization", "Bearer "+tok))
	wantViewer(t, v, err, rw)

	v, err = a.Authenticate(reqWith("Authorization", "bearer "+tok))
	wantViewer(t, v, err, rw)
	v, err = a.Authenticate(reqWith("Authorization", "BEARER   "+tok+"  "))
	wantViewer(t, v, err, rw)
}

func TestTimeClaims(t *testing.T) {
	a := newHS(t, Config{})
	now := time.Now()
	cases := []struct {
		name  string
		extra map[string]any
		want  string // "" = accepted
	}{
		{"expired", map[string]any{"exp": now.Add(-time.Hour).Unix()}, "the token has expired"},
		{"expired within leeway", map[string]any{"exp": now.Add(-10 * time.Second).Unix()}, ""},
		{"not yet valid", map[string]any{"nbf": now.Add(time.Hour).Unix()}, "the token is not valid yet"},
		{"nbf within leeway", map[string]any{"nbf": now.Add(10 * time.Second).Unix()}, ""},
		{"nbf past", map[string]any{"nbf": now.Add(-time.Minute).Unix()}, ""},
		{"no exp", map[string]any{"exp": nil}, "the token has no exp claim"},
		{"exp wrong type", map[string]any{"exp": "tomorrow"}, "wrong type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok := signHS(t, testSecret, claims(tc.extra))
			v, err := a.AuthenticateToken(tok)
			if tc.want == "" {
				wantViewer(t, v, err, rw)
				return
			}
			wantReason(t, err, tok, tc.want)
		})
	}

	strict := newHS(t, Config{Leeway: time.Nanosecond})
	tok := signHS(t, testSecret, claims(map[string]any{"exp": now.Add(-10 * time.Second).Unix()}))
	_, err := strict.AuthenticateToken(tok)
	wantReason(t, err, tok, "the token has expired")
}

func TestWrongSecret(t *testing.T) {
	a := newHS(t, Config{})
	tok := signHS(t, []byte("another-secret-another-secret-xx"), claims(nil))
	_, err := a.Authenticate(reqWith("Authorization", "Bearer "+tok))
	wantReason(t, err, tok, "the token's signature does not verify")

	// A tampered payload with the original signature.
	good := signHS(t, testSecret, claims(nil))
	parts := strings.Split(good, ".")
	payload, _ := json.Marshal(claims(map[string]any{"account_id": "acct_2"}))
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	tampered := strings.Join(parts, ".")
	_, err = a.AuthenticateToken(tampered)
	wantReason(t, err, tampered, "the token's signature does not verify")
}

func rawToken(header, payload map[string]any, sig string) string {
	h, _ := json.Marshal(header)
	p, _ := json.Marshal(payload)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p) + "." + sig
}

func TestAlgNone(t *testing.T) {
	a := newHS(t, Config{})
	for _, alg := range []string{"none", "None", "NONE"} {
		tok := rawToken(map[string]any{"alg": alg, "typ": "JWT"}, claims(nil), "")
		_, err := a.AuthenticateToken(tok)
		if err == nil {
			t.Fatalf("alg %q accepted", alg)
		}
		var ae *Error
		if !errors.As(err, &ae) {
			t.Fatalf("alg %q: want *Error, got %T", alg, err)
		}
		checkSafe(t, err, tok)
	}
	tok := rawToken(map[string]any{"alg": "none", "typ": "JWT"}, claims(nil), "")
	_, err := a.AuthenticateToken(tok)
	wantReason(t, err, tok, "signing algorithm none is not accepted")

	// Other HMAC strengths are not accepted with the HS256 secret either.
	hs512, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, claims(nil)).SignedString(testSecret)
	_, err = a.AuthenticateToken(hs512)
	wantReason(t, err, hs512, "signing algorithm HS512 is not accepted")

	noAlg := rawToken(map[string]any{"typ": "JWT"}, claims(nil), "c2ln")
	_, err = a.AuthenticateToken(noAlg)
	wantReason(t, err, noAlg, "signing algorithm is missing or not supported")
}

func TestMalformed(t *testing.T) {
	a := newHS(t, Config{})
	for _, tok := range []string{"abc", "a.b", "a.b.c", "!!!.???.***", strings.Repeat("x", 20000)} {
		_, err := a.AuthenticateToken(tok)
		var ae *Error
		if !errors.As(err, &ae) {
			t.Fatalf("%.20q: want *Error, got %v", tok, err)
		}
		checkSafe(t, err, tok)
	}
}

func TestAccountIDClaim(t *testing.T) {
	a := newHS(t, Config{})
	long := strings.Repeat("a", 128)
	cases := []struct {
		name string
		id   any
		want string
	}{
		{"missing", nil, "the token has no account_id claim"},
		{"number", 42, "the token's account_id claim is not a string"},
		{"bool", true, "is not a string"},
		{"object", map[string]any{"id": "x"}, "is not a string"},
		{"array", []string{"acct_1"}, "is not a string"},
		{"empty", "", "not a valid account id"},
		{"space", "acct 1", "not a valid account id"},
		{"leading space", " acct_1", "not a valid account id"},
		{"tab", "acct\t1", "not a valid account id"},
		{"newline", "acct_1\n", "not a valid account id"},
		{"control", "acct\x01", "not a valid account id"},
		{"zero width", "acct\u200b1", "not a valid account id"},
		{"too long", long + "a", "not a valid account id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := claims(nil)
			delete(c, "account_id")
			if tc.id != nil {
				c["account_id"] = tc.id
			}
			tok := signHS(t, testSecret, c)
			_, err := a.AuthenticateToken(tok)
			wantReason(t, err, tok, tc.want)
		})
	}

	c := claims(nil)
	c["account_id"] = nil // JSON null
	tok := signHS(t, testSecret, c)
	_, err := a.AuthenticateToken(tok)
	wantReason(t, err, tok, "no account_id claim")

	for _, id := range []string{long, "acct_ünïcode", "a"} {
		tok := signHS(t, testSecret, claims(map[string]any{"account_id": id}))
		v, err := a.AuthenticateToken(tok)
		wantViewer(t, v, err, Viewer{AccountID: id, Read: true, Write: true})
	}

	// sub is not a substitute for account_id.
	tok = signHS(t, testSecret, claims(map[string]any{"account_id": nil, "sub": "acct_1"}))
	_, err = a.AuthenticateToken(tok)
	wantReason(t, err, tok, "no account_id claim")
}

func TestScopes(t *testing.T) {
	a := newHS(t, Config{})
	ro := Viewer{AccountID: "acct_1", Read: true}
	cases := []struct {
		name  string
		scope any // nil = claim absent
		want  Viewer
		err   string
	}{
		{"missing", nil, rw, ""},
		{"string both", "telephony:read telephony:write", rw, ""},
		{"string read", "telephony:read", ro, ""},
		{"string write implies read", "telephony:write", rw, ""},
		{"string with others", "openid profile telephony:read", ro, ""},
		{"string extra spaces", "  telephony:read   telephony:write ", rw, ""},
		{"array both", []string{"telephony:read", "telephony:write"}, rw, ""},
		{"array read", []string{"telephony:read"}, ro, ""},
		{"array write", []string{"telephony:write"}, rw, ""},
		{"array with others", []string{"email", "telephony:read"}, ro, ""},
		{"unrelated string", "openid profile", Viewer{}, "the token grants neither telephony:read nor telephony:write"},
		{"unrelated array", []string{"admin"}, Viewer{}, "grants neither"},
		{"empty string", "", Viewer{}, "grants neither"},
		{"empty array", []string{}, Viewer{}, "grants neither"},
		{"prefix only", "telephony:readx telephony", Viewer{}, "grants neither"},
		{"case differs", "TELEPHONY:WRITE", Viewer{}, "grants neither"},
		{"number", 7, Viewer{}, "scope claim must be a string or a list of strings"},
		{"mixed array", []any{"telephony:read", 3}, Viewer{}, "scope claim must be a string or a list of strings"},
		{"object", map[string]any{"telephony:write": true}, Viewer{}, "scope claim must be"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := claims(nil)
			if tc.scope != nil {
				c["scope"] = tc.scope
			}
			tok := signHS(t, testSecret, c)
			v, err := a.AuthenticateToken(tok)
			if tc.err != "" {
				wantReason(t, err, tok, tc.err)
				return
			}
			wantViewer(t, v, err, tc.want)
		})
	}
}

func TestIssuerAudience(t *testing.T) {
	a := newHS(t, Config{HS256Secret: testSecret, Issuer: "https://issuer.example", Audience: "switchboard"})
	cases := []struct {
		name  string
		extra map[string]any
		want  string
	}{
		{"both match", map[string]any{"iss": "https://issuer.example", "aud": "switchboard"}, ""},
		{"aud array", map[string]any{"iss": "https://issuer.example", "aud": []string{"other", "switchboard"}}, ""},
		{"wrong issuer", map[string]any{"iss": "https://evil.example", "aud": "switchboard"}, "issuer (iss) is not accepted"},
		{"missing issuer", map[string]any{"aud": "switchboard"}, "issuer (iss) is not accepted"},
		{"wrong audience", map[string]any{"iss": "https://issuer.example", "aud": "other"}, "audience (aud) is not accepted"},
		{"missing audience", map[string]any{"iss": "https://issuer.example"}, "audience (aud) is not accepted"},
		{"empty audience", map[string]any{"iss": "https://issuer.example", "aud": []string{}}, "audience (aud) is not accepted"},
		{"issuer wrong type", map[string]any{"iss": 5, "aud": "switchboard"}, "wrong type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok := signHS(t, testSecret, claims(tc.extra))
			v, err := a.AuthenticateToken(tok)
			if tc.want == "" {
				wantViewer(t, v, err, rw)
				return
			}
			wantReason(t, err, tok, tc.want)
		})
	}

	// Not configured: iss/aud are not checked.
	plain := newHS(t, Config{})
	tok := signHS(t, testSecret, claims(map[string]any{"iss": "anyone", "aud": "anything"}))
	v, err := plain.AuthenticateToken(tok)
	wantViewer(t, v, err, rw)
}

func TestAuthorizationHeader(t *testing.T) {
	a := newHS(t, Config{})
	tok := signHS(t, testSecret, claims(nil))

	_, err := a.Authenticate(reqWith())
	if !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("no header: got %v, want ErrNoCredentials", err)
	}
	_, err = a.Authenticate(reqWith("Authorization", "   "))
	if !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("blank header: got %v, want ErrNoCredentials", err)
	}

	bad := []struct{ value, want string }{
		{"Basic dXNlcjpwYXNz", "only Bearer tokens are accepted"},
		{"Token " + tok, "only Bearer tokens are accepted"},
		{"Bearer", "no token after Bearer"},
		{"Bearer    ", "no token after Bearer"},
		{tok, `must be "Bearer <token>"`},
		{"Bearer " + tok + " extra", `must be "Bearer <token>"`},
	}
	for _, b := range bad {
		_, err := a.Authenticate(reqWith("Authorization", b.value))
		wantReason(t, err, tok, b.want)
	}

	_, err = a.Authenticate(reqWith("Authorization", "Bearer "+tok, "Authorization", "Bearer "+tok))
	wantReason(t, err, tok, "more than one Authorization header")
}

func TestAuthenticateToken(t *testing.T) {
	a := newHS(t, Config{})
	tok := signHS(t, testSecret, claims(nil))
	for _, raw := range []string{tok, "Bearer " + tok, "bearer " + tok, " " + tok + "\n"} {
		v, err := a.AuthenticateToken(raw)
		wantViewer(t, v, err, rw)
	}
	for _, raw := range []string{"", "   "} {
		if _, err := a.AuthenticateToken(raw); !errors.Is(err, ErrNoCredentials) {
			t.Fatalf("%q: got %v, want ErrNoCredentials", raw, err)
		}
	}
	_, err := a.AuthenticateToken("Basic " + tok)
	wantReason(t, err, tok, "only Bearer tokens are accepted")
	_, err = a.AuthenticateToken("Bearer")
	wantReason(t, err, tok, "no token after Bearer")
}

func TestHeaderTrust(t *testing.T) {
	tok := signHS(t, testSecret, claims(nil))

	off := newHS(t, Config{HS256Secret: testSecret})
	if _, err := off.Authenticate(reqWith("X-Account-ID", "acct_9")); !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("trust off: got %v, want ErrNoCredentials", err)
	}

	on := newHS(t, Config{HS256Secret: testSecret, TrustAccountHeader: true})
	v, err := on.Authenticate(reqWith("X-Account-ID", "acct_9"))
	wantViewer(t, v, err, Viewer{AccountID: "acct_9", Read: true, Write: true})

	// The token wins over the header.
	v, err = on.Authenticate(reqWith("X-Account-ID", "acct_9", "Authorization", "Bearer "+tok))
	wantViewer(t, v, err, rw)

	// A bad token is not rescued by the header.
	bad := signHS(t, []byte("wrong-secret-wrong-secret-wrong!"), claims(nil))
	_, err = on.Authenticate(reqWith("X-Account-ID", "acct_9", "Authorization", "Bearer "+bad))
	wantReason(t, err, bad, "signature does not verify")

	for _, id := range []string{"", "acct 9", strings.Repeat("x", 129), "acct\x7f"} {
		_, err = on.Authenticate(reqWith("X-Account-ID", id))
		wantReason(t, err, "", "X-Account-ID header is not a valid account id")
	}
	_, err = on.Authenticate(reqWith("X-Account-ID", "a", "X-Account-ID", "b"))
	wantReason(t, err, "", "more than one X-Account-ID header")

	if _, err := on.Authenticate(reqWith()); !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("trust on, no header: got %v, want ErrNoCredentials", err)
	}

	// Header-only mode: bearer tokens are refused with a clear reason.
	only := newHS(t, Config{TrustAccountHeader: true})
	v, err = only.Authenticate(reqWith("X-Account-ID", "acct_9"))
	wantViewer(t, v, err, Viewer{AccountID: "acct_9", Read: true, Write: true})
	_, err = only.Authenticate(reqWith("Authorization", "Bearer "+tok))
	wantReason(t, err, tok, "does not accept bearer tokens")
}

func TestNewConfigErrors(t *testing.T) {
	if _, err := New(context.Background(), Config{}); err == nil {
		t.Fatal("empty config accepted")
	}
	if _, err := New(context.Background(), Config{HS256Secret: testSecret, Leeway: -time.Second}); err == nil {
		t.Fatal("negative leeway accepted")
	}
	for _, u := range []string{"ftp://example.com/jwks", "not a url", "/relative"} {
		_, err := New(context.Background(), Config{JWKSURL: u})
		if err == nil || !strings.Contains(err.Error(), "SWITCHBOARD_JWKS_URL") {
			t.Fatalf("%q: got %v, want an error naming SWITCHBOARD_JWKS_URL", u, err)
		}
	}
}

func TestMiddleware(t *testing.T) {
	a := newHS(t, Config{})
	type seen struct {
		v   Viewer
		ok  bool
		err error
	}
	var got seen
	h := Middleware(a, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.v, got.ok = FromContext(r.Context())
		got.err = ErrorFromContext(r.Context())
		w.WriteHeader(http.StatusTeapot)
	}))
	serve := func(r *http.Request) {
		t.Helper()
		got = seen{}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != http.StatusTeapot {
			t.Fatalf("middleware rejected the request: status %d", rec.Code)
		}
	}

	tok := signHS(t, testSecret, claims(nil))
	serve(reqWith("Authorization", "Bearer "+tok))
	if !got.ok || got.v != rw || got.err != nil {
		t.Fatalf("valid token: got %+v", got)
	}

	serve(reqWith())
	if got.ok || !errors.Is(got.err, ErrNoCredentials) {
		t.Fatalf("no credentials: got %+v", got)
	}

	expired := signHS(t, testSecret, claims(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}))
	serve(reqWith("Authorization", "Bearer "+expired))
	if got.ok {
		t.Fatalf("expired token stored a viewer: %+v", got)
	}
	wantReason(t, got.err, expired, "the token has expired")

	if _, ok := FromContext(context.Background()); ok {
		t.Fatal("FromContext on an empty context")
	}
	if err := ErrorFromContext(context.Background()); err != nil {
		t.Fatalf("ErrorFromContext on an empty context: %v", err)
	}
	ctx := NewContext(context.Background(), Viewer{AccountID: "x", Read: true})
	if v, ok := FromContext(ctx); !ok || v.AccountID != "x" || !v.Read || v.Write {
		t.Fatalf("NewContext/FromContext round trip: %+v %v", v, ok)
	}
}

func TestMintRoundTrip(t *testing.T) {
	a := newHS(t, Config{})
	cases := []struct {
		scopes []string
		want   Viewer
	}{
		{nil, rw},
		{[]string{ScopeRead}, Viewer{AccountID: "acct_1", Read: true}},
		{[]string{ScopeWrite}, rw},
		{[]string{ScopeRead, ScopeWrite}, rw},
	}
	for _, tc := range cases {
		tok, err := Mint(testSecret, "acct_1", tc.scopes, time.Hour)
		if err != nil {
			t.Fatalf("Mint: %v", err)
		}
		v, err := a.Authenticate(reqWith("Authorization", "Bearer "+tok))
		wantViewer(t, v, err, tc.want)

		parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
		if err != nil {
			t.Fatal(err)
		}
		c := parsed.Claims.(jwt.MapClaims)
		if parsed.Method.Alg() != "HS256" || c["sub"] != "acct_1" || c["iat"] == nil || c["exp"] == nil {
			t.Fatalf("minted token: alg %s claims %v", parsed.Method.Alg(), c)
		}
	}

	// Mint refuses scopes this server does not know; a token with one (from elsewhere) grants nothing.
	if _, err := Mint(testSecret, "acct_1", []string{"telephony:read,telephony:write"}, time.Hour); err == nil {
		t.Fatal("Mint accepted an unknown scope")
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"account_id": "acct_1", "scope": "other", "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.AuthenticateToken(tok)
	wantReason(t, err, tok, "grants neither")

	// A short-lived token expires.
	tok, err = Mint(testSecret, "acct_1", nil, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	strict, _ := New(context.Background(), Config{HS256Secret: testSecret, Leeway: time.Nanosecond})
	if _, err := strict.AuthenticateToken(tok); err != nil {
		t.Fatalf("fresh token rejected: %v", err)
	}

	for _, bad := range []struct {
		secret []byte
		id     string
		scopes []string
		ttl    time.Duration
	}{
		{nil, "acct_1", nil, time.Hour},
		{testSecret, "", nil, time.Hour},
		{testSecret, "acct 1", nil, time.Hour},
		{testSecret, "acct_1", nil, 0},
		{testSecret, "acct_1", []string{"a b"}, time.Hour},
		{testSecret, "acct_1", []string{""}, time.Hour},
	} {
		if _, err := Mint(bad.secret, bad.id, bad.scopes, bad.ttl); err == nil {
			t.Errorf("Mint(%q, %q, %q, %v) succeeded", bad.secret, bad.id, bad.scopes, bad.ttl)
		}
	}
}

// pubDER is used to attempt alg confusion: the public key bytes as an HMAC secret.
func pubDER(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestAlgConfusionWithSecretAndJWKS(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srv := newJWKSServer(t, rsaKey, ecKey)
	a, err := New(t.Context(), Config{HS256Secret: testSecret, JWKSURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	// Both kinds of token are accepted.
	v, err := a.AuthenticateToken(signHS(t, testSecret, claims(nil)))
	wantViewer(t, v, err, rw)
	v, err = a.AuthenticateToken(signAsym(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", claims(nil)))
	wantViewer(t, v, err, rw)

	// HS256 signed with the public key (as DER and as the JWKS "n") is refused.
	for _, key := range [][]byte{pubDER(t, &rsaKey.PublicKey), rsaKey.N.Bytes()} {
		tok := rawHS(t, key, map[string]any{"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, claims(nil))
		_, err := a.AuthenticateToken(tok)
		wantReason(t, err, tok, "signature does not verify")
	}
	// An RS256 token signed with the secret (nonsense, but must fail).
	tok := rawHS(t, testSecret, map[string]any{"alg": "RS256", "typ": "JWT", "kid": "rsa-1"}, claims(nil))
	_, err = a.AuthenticateToken(tok)
	wantReason(t, err, tok, "signature does not verify")
}

// rawHS signs header.payload with HMAC-SHA256 under any header.
func rawHS(t *testing.T, key []byte, header map[string]any, c jwt.MapClaims) string {
	t.Helper()
	unsigned := rawToken(header, c, "")
	unsigned = strings.TrimSuffix(unsigned, ".")
	sig, err := jwt.SigningMethodHS256.Sign(unsigned, key)
	if err != nil {
		t.Fatal(err)
	}
	return unsigned + "." + base64.RawURLEncoding.EncodeToString(sig)
}
