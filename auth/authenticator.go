package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// DefaultLeeway is the clock skew allowance used when Config.Leeway is zero.
const DefaultLeeway = 30 * time.Second

// maxTokenLen bounds the size of a token we are willing to parse.
const maxTokenLen = 16 << 10

// hmacAlgs are accepted with Config.HS256Secret.
var hmacAlgs = []string{jwt.SigningMethodHS256.Alg()}

// asymmetricAlgs are accepted with Config.JWKSURL.
var asymmetricAlgs = []string{
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
	"EdDSA",
}

// Config chooses how callers are authenticated. At least one of
// HS256Secret, JWKSURL and TrustAccountHeader must be set.
type Config struct {
	// HS256Secret verifies HS256 tokens (HS256 only).
	HS256Secret []byte
	// JWKSURL serves the public keys of asymmetric tokens (RS*, PS*, ES*, EdDSA).
	JWKSURL string
	// Issuer, when non-empty, must equal the token's iss claim.
	Issuer string
	// Audience, when non-empty, must be among the token's aud claim.
	Audience string
	// TrustAccountHeader lets an X-Account-ID header name the tenant (with
	// read and write) when no bearer token is sent. Only for deployments
	// behind a gateway that sets or strips that header.
	TrustAccountHeader bool
	// Leeway is the clock skew allowance for exp and nbf; DefaultLeeway when zero.
	Leeway time.Duration
}

// Authenticator turns requests and tokens into Viewers. It is safe for
// concurrent use.
type Authenticator struct {
	secret      []byte
	jwks        keyfunc.Keyfunc
	trustHeader bool
	issuer      string
	audience    string
	validAlgs   []string
	parser      *jwt.Parser
}

// New builds an Authenticator from cfg. A JWKS is fetched once now (an
// unreachable or empty JWKS is an error) and then refreshed in the
// background until ctx ends.
func New(ctx context.Context, cfg Config) (*Authenticator, error) {
	if len(cfg.HS256Secret) == 0 && cfg.JWKSURL == "" && !cfg.TrustAccountHeader {
		return nil, errors.New("auth: no authentication configured: set a JWT secret, SWITCHBOARD_JWKS_URL, or trust the X-Account-ID header")
	}
	if cfg.Leeway < 0 {
		return nil, errors.New("auth: the clock skew leeway must not be negative")
	}
	leeway := cfg.Leeway
	if leeway == 0 {
		leeway = DefaultLeeway
	}
	a := &Authenticator{
		trustHeader: cfg.TrustAccountHeader,
		issuer:      cfg.Issuer,
		audience:    cfg.Audience,
	}
	if len(cfg.HS256Secret) > 0 {
		a.secret = slices.Clone(cfg.HS256Secret)
		a.validAlgs = append(a.validAlgs, hmacAlgs...)
	}
	if cfg.JWKSURL != "" {
		kf, err := newJWKS(ctx, cfg.JWKSURL)
		if err != nil {
			return nil, err
		}
		a.jwks = kf
		a.validAlgs = append(a.validAlgs, asymmetricAlgs...)
	}
	opts := []jwt.ParserOption{
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(leeway),
	}
	if len(a.validAlgs) > 0 {
		opts = append(opts, jwt.WithValidMethods(a.validAlgs))
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	a.parser = jwt.NewParser(opts...)
	return a, nil
}

func newJWKS(parent context.Context, raw string) (_ keyfunc.Keyfunc, err error) {
	u, perr := url.Parse(raw)
	if perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("auth: SWITCHBOARD_JWKS_URL must be an http(s) URL")
	}
	// The refresh goroutine stops with parent, or at once if setup fails.
	ctx, cancel := context.WithCancel(parent)
	defer func() {
		if err != nil {
			cancel()
		}
	}()
	shown := u.Redacted()
	noErr := false
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{raw}, keyfunc.Override{
		HTTPTimeout:               10 * time.Second,
		NoErrorReturnFirstHTTPReq: &noErr,
		// A token with an unknown kid triggers at most one refetch per rate
		// period (keyfunc's default); others fail at once instead of waiting.
		RateLimitWaitMax: 10 * time.Second,
		// Log refresh failures without any password in the URL.
		RefreshErrorHandlerFunc: func(string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				slog.Default().ErrorContext(ctx, "auth: failed to refresh the JWKS",
					"url", shown, "error", redact(err, raw, shown))
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("auth: cannot fetch the JWKS at SWITCHBOARD_JWKS_URL (%s): %s", shown, redact(err, raw, shown))
	}
	keys, err := kf.Storage().KeyReadAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("auth: cannot read the JWKS at SWITCHBOARD_JWKS_URL (%s): %w", shown, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("auth: the JWKS at SWITCHBOARD_JWKS_URL (%s) holds no usable keys", shown)
	}
	return kf, nil
}

// redact renders err with the raw URL (which may hold a password) replaced.
func redact(err error, raw, shown string) string {
	return strings.ReplaceAll(err.Error(), raw, shown)
}

// Authenticate identifies the caller of r. It returns ErrNoCredentials when
// the request has no Authorization header (and no trusted X-Account-ID
// header), and an *Error for anything presented that does not verify. A
// bearer token takes precedence over X-Account-ID.
func (a *Authenticator) Authenticate(r *http.Request) (Viewer, error) {
	if a == nil {
		return Viewer{}, ErrNoCredentials
	}
	values := r.Header.Values("Authorization")
	switch {
	case len(values) > 1:
		return Viewer{}, fail("the request has more than one Authorization header")
	case len(values) == 1 && strings.TrimSpace(values[0]) != "":
		tok, err := bearer(values[0], true)
		if err != nil {
			return Viewer{}, err
		}
		return a.verify(tok)
	}
	if a.trustHeader {
		ids := r.Header.Values(AccountHeader)
		switch {
		case len(ids) > 1:
			return Viewer{}, fail("the request has more than one X-Account-ID header")
		case len(ids) == 1:
			id := strings.TrimSpace(ids[0])
			if !validAccountID(id) {
				return Viewer{}, fail("the X-Account-ID header is not a valid account id (1-128 characters, no spaces or control characters)")
			}
			return Viewer{AccountID: id, Read: true, Write: true}, nil
		}
	}
	return Viewer{}, ErrNoCredentials
}

// AuthenticateToken verifies a token given outside an HTTP header, such as a
// websocket connection_init payload. It accepts "Bearer <token>" or the bare
// token; an empty string is ErrNoCredentials.
func (a *Authenticator) AuthenticateToken(raw string) (Viewer, error) {
	if a == nil || strings.TrimSpace(raw) == "" {
		return Viewer{}, ErrNoCredentials
	}
	tok, err := bearer(raw, false)
	if err != nil {
		return Viewer{}, err
	}
	return a.verify(tok)
}

// bearer extracts the token from "Bearer <token>" (scheme case-insensitive).
// When the scheme is optional, a value without a space is the token itself.
func bearer(value string, schemeRequired bool) (string, error) {
	value = strings.TrimSpace(value)
	scheme, tok, found := strings.Cut(value, " ")
	if !found {
		switch {
		case strings.EqualFold(value, "bearer"):
			return "", fail("the Authorization header has no token after Bearer")
		case schemeRequired:
			return "", fail(`the Authorization header must be "Bearer <token>"`)
		}
		return value, nil
	}
	if !strings.EqualFold(scheme, "bearer") {
		return "", fail("only Bearer tokens are accepted")
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", fail("the Authorization header has no token after Bearer")
	}
	if strings.ContainsAny(tok, " \t") {
		return "", fail(`the Authorization header must be "Bearer <token>"`)
	}
	return tok, nil
}

// errNoMatchingKey marks a JWKS lookup failure (unknown kid, alg mismatch,
// refresh rate-limited).
var errNoMatchingKey = errors.New("no matching key in the JWKS")

// keyFor picks the verification key by algorithm, so a secret is never
// offered to an asymmetric algorithm nor a public key to HS256.
func (a *Authenticator) keyFor(t *jwt.Token) (any, error) {
	if t.Method == nil {
		return nil, errors.New("no signing method")
	}
	alg := t.Method.Alg()
	switch {
	case slices.Contains(hmacAlgs, alg) && a.secret != nil:
		return a.secret, nil
	case slices.Contains(asymmetricAlgs, alg) && a.jwks != nil:
		key, err := a.jwks.Keyfunc(t)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errNoMatchingKey, err)
		}
		return key, nil
	}
	return nil, errors.New("no key for this algorithm")
}

func (a *Authenticator) verify(raw string) (Viewer, error) {
	if len(a.validAlgs) == 0 {
		return Viewer{}, fail("this server does not accept bearer tokens")
	}
	if len(raw) > maxTokenLen {
		return Viewer{}, fail("the token is too long")
	}
	claims := jwt.MapClaims{}
	tok, err := a.parser.ParseWithClaims(raw, claims, a.keyFor)
	if err != nil {
		return Viewer{}, a.classify(tok, claims, err)
	}
	if !tok.Valid {
		return Viewer{}, fail("the token is not valid")
	}
	return viewerFromClaims(claims)
}

// classify turns a jwt error into a safe reason.
func (a *Authenticator) classify(tok *jwt.Token, claims jwt.MapClaims, err error) *Error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return fail("the token is malformed")
	case tok == nil || tok.Method == nil:
		return fail("the token's signing algorithm is missing or not supported")
	case !slices.Contains(a.validAlgs, tok.Method.Alg()):
		return fail(fmt.Sprintf("the token's signing algorithm %s is not accepted (accepted: %s)",
			tok.Method.Alg(), strings.Join(a.validAlgs, ", ")))
	case errors.Is(err, errNoMatchingKey):
		return fail("the token's key id (kid) and algorithm match no key in the key set")
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return fail("no configured key can verify the token")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return fail("the token's signature does not verify")
	case errors.Is(err, jwt.ErrTokenExpired):
		return fail("the token has expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return fail("the token is not valid yet")
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return fail("the token was issued in the future")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && claims["exp"] == nil:
		return fail("the token has no exp claim")
	case errors.Is(err, jwt.ErrTokenInvalidIssuer),
		a.issuer != "" && errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && (claims["iss"] == nil || claims["iss"] == ""):
		return fail("the token's issuer (iss) is not accepted")
	case errors.Is(err, jwt.ErrTokenInvalidAudience),
		a.audience != "" && errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return fail("the token's audience (aud) is not accepted")
	case errors.Is(err, jwt.ErrInvalidType):
		return fail("a registered claim of the token (exp, nbf, iat, iss or aud) has the wrong type")
	}
	return fail("the token is not valid")
}

// viewerFromClaims reads account_id and scope from verified claims.
func viewerFromClaims(claims jwt.MapClaims) (Viewer, error) {
	rawID, ok := claims["account_id"]
	if !ok || rawID == nil {
		return Viewer{}, fail("the token has no account_id claim")
	}
	id, ok := rawID.(string)
	if !ok {
		return Viewer{}, fail("the token's account_id claim is not a string")
	}
	if !validAccountID(id) {
		return Viewer{}, fail("the token's account_id claim is not a valid account id (1-128 characters, no spaces or control characters)")
	}
	v := Viewer{AccountID: id}
	rawScope, ok := claims["scope"]
	if !ok {
		v.Read, v.Write = true, true
		return v, nil
	}
	var scopes []string
	switch s := rawScope.(type) {
	case string:
		scopes = strings.Fields(s)
	case []any:
		for _, e := range s {
			str, ok := e.(string)
			if !ok {
				return Viewer{}, fail("the token's scope claim must be a string or a list of strings")
			}
			scopes = append(scopes, strings.Fields(str)...)
		}
	default:
		return Viewer{}, fail("the token's scope claim must be a string or a list of strings")
	}
	for _, s := range scopes {
		switch s {
		case ScopeWrite:
			v.Read, v.Write = true, true
		case ScopeRead:
			v.Read = true
		}
	}
	if !v.Read {
		return Viewer{}, fail("the token grants neither telephony:read nor telephony:write")
	}
	return v, nil
}
