package app

import (
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/carriers"
	"github.com/switchboard-dev/switchboard/graph"
	"github.com/switchboard-dev/switchboard/provisioning"
)

// Config is the server's configuration. ConfigFromEnv reads it from SWITCHBOARD_* variables.
type Config struct {
	Addr    string // listen address
	DataDir string // embedded database, local keys and the generated JWT secret live here

	DatabaseURL string // postgres://… ; empty: the embedded SQLite file in DataDir
	RedisURL    string // redis://… ; empty: an in-process Redis

	SecretsURL          string   // key-encryption keeper URL; empty: a local key in DataDir
	PreviousSecretsURLs []string // keepers of earlier keys, still able to open old records

	JWTSecret          string // HS256 secret; empty in the embedded setup: generated in DataDir
	JWKSURL            string // RS256/ES256 keys
	JWTIssuer          string // checked when set
	JWTAudience        string // checked when set
	TrustAccountHeader bool   // accept X-Account-ID from a trusted gateway
	DevAccount         string // account of the token printed in the embedded setup

	DefaultLimits provisioning.Limits // limits of accounts that never set theirs

	PublicURL        string            // where carriers reach this server; empty: the listen address
	AnswerURL        string            // call instructions URL handed to carriers; "{session}" is replaced
	CallProcessorURL string            // when set, calls are dispatched by POSTing to its /telephony/originate
	CarrierAPIURLs   map[string]string // carrier id → API base URL, replacing the carrier's own
	Sandbox          string            // "auto" (on when embedded), "true" or "false"

	CORSOrigins []string // browser origins allowed to call /graphql; "*" allows any

	ComplexityLimit int   // the most complex GraphQL operation accepted
	MaxDepth        int   // the deepest nesting of fields accepted in a GraphQL operation
	MaxTokens       int   // the most tokens a GraphQL document may hold
	MaxBodyBytes    int64 // the largest request body accepted
	Introspection   bool  // serve the schema to tools such as the playground
	Playground      bool  // serve GraphiQL at /

	LogFormat       string // text or json
	LogLevel        slog.Level
	ShutdownTimeout time.Duration

	SweepInterval time.Duration // how often the sweeper keeps calls and caps in step

	CapsLease          time.Duration // how long a call keeps its concurrent slot without a renewal
	UnconfirmedTimeout time.Duration // how long a call the carrier never confirmed waits for a callback
	MaxCallDuration    time.Duration // how long a call may go without a final status before it is failed
}

// SandboxEnabled reports whether the sandbox carrier is offered.
func (c Config) SandboxEnabled() bool {
	return c.Sandbox == "true" || (c.Sandbox == "auto" && c.Embedded())
}

// Embedded reports whether the server runs on its embedded database, with no external services.
func (c Config) Embedded() bool { return c.DatabaseURL == "" }

// Variable is one configuration setting: its environment variable, default and meaning.
type Variable struct {
	Name, Default, Help string
	set                 func(*Config, string) error
}

// Variables lists every configuration variable, for `switchboard help`.
func Variables() []Variable { return variables }

var variables = []Variable{
	{"SWITCHBOARD_ADDR", ":8080", "listen address", str(func(c *Config) *string { return &c.Addr })},
	{"SWITCHBOARD_DATA_DIR", "./.switchboard", "data folder: embedded database, local key, generated JWT secret", str(func(c *Config) *string { return &c.DataDir })},
	{"SWITCHBOARD_DATABASE_URL", "", "postgres://user:pass@host/db; empty: embedded SQLite in the data folder", func(c *Config, s string) error {
		if s != "" && !strings.HasPrefix(s, "postgres://") && !strings.HasPrefix(s, "postgresql://") {
			return fmt.Errorf("want a postgres:// or postgresql:// URL, or nothing for the embedded database")
		}
		c.DatabaseURL = s
		return nil
	}},
	{"SWITCHBOARD_REDIS_URL", "", "redis://host:6379/0 (or rediss://); empty: in-process Redis", func(c *Config, s string) error {
		if s != "" && !strings.HasPrefix(s, "redis://") && !strings.HasPrefix(s, "rediss://") && !strings.HasPrefix(s, "unix://") {
			return fmt.Errorf("want a redis://, rediss:// or unix:// URL, or nothing for the in-process Redis")
		}
		c.RedisURL = s
		return nil
	}},
	{"SWITCHBOARD_SECRETS_URL", "", "key-encryption keeper (base64key://…, awskms://…, hashivault://…); empty: local key in the data folder", str(func(c *Config) *string { return &c.SecretsURL })},
	{"SWITCHBOARD_SECRETS_PREVIOUS_URLS", "", "comma-separated keepers of earlier keys, for rotation", func(c *Config, s string) error {
		c.PreviousSecretsURLs = nil
		for _, u := range strings.Split(s, ",") {
			if u = strings.TrimSpace(u); u != "" {
				c.PreviousSecretsURLs = append(c.PreviousSecretsURLs, u)
			}
		}
		return nil
	}},
	{"SWITCHBOARD_JWT_SECRET", "", "HS256 secret for bearer tokens, at least 32 bytes; empty in the embedded setup: generated in the data folder", func(c *Config, s string) error {
		if s != "" && len(s) < minJWTSecretLen {
			return fmt.Errorf("want at least %d bytes (HS256 needs a key as long as its hash; for example: openssl rand -base64 32)", minJWTSecretLen)
		}
		c.JWTSecret = s
		return nil
	}},
	{"SWITCHBOARD_JWKS_URL", "", "JWKS URL for RS256/ES256 bearer tokens", str(func(c *Config) *string { return &c.JWKSURL })},
	{"SWITCHBOARD_JWT_ISSUER", "", "required iss claim, when set", str(func(c *Config) *string { return &c.JWTIssuer })},
	{"SWITCHBOARD_JWT_AUDIENCE", "", "required aud claim, when set", str(func(c *Config) *string { return &c.JWTAudience })},
	{"SWITCHBOARD_TRUST_ACCOUNT_HEADER", "false", "accept X-Account-ID from a trusted gateway instead of a token", boolean(func(c *Config) *bool { return &c.TrustAccountHeader })},
	{"SWITCHBOARD_DEV_ACCOUNT", "dev", "account of the token printed at start in the embedded setup", str(func(c *Config) *string { return &c.DevAccount })},
	{"SWITCHBOARD_DEFAULT_CONCURRENT_MAX", "10", "default concurrent calls cap (0 blocks, unlimited for none)", limit(func(c *Config) **int { return &c.DefaultLimits.ConcurrentMax })},
	{"SWITCHBOARD_DEFAULT_CALLS_PER_MINUTE", "60", "default calls-per-minute cap", limit(func(c *Config) **int { return &c.DefaultLimits.CallsPerMinute })},
	{"SWITCHBOARD_DEFAULT_DAILY_CALLS_MAX", "1000", "default daily calls cap (UTC day)", limit(func(c *Config) **int { return &c.DefaultLimits.DailyCallsMax })},
	{"SWITCHBOARD_DEFAULT_DAILY_MINUTES_MAX", "1000", "default daily talk-minutes cap (UTC day)", limit(func(c *Config) **int { return &c.DefaultLimits.DailyMinutesMax })},
	{"SWITCHBOARD_PUBLIC_URL", "", "the URL carriers reach this server at, for status callbacks (https://switchboard.example.com); empty: the listen address, which only the sandbox can reach", func(c *Config, s string) error {
		if s != "" && !isOrigin(strings.TrimSuffix(s, "/")) {
			return fmt.Errorf("want scheme, host and optional port, such as https://switchboard.example.com")
		}
		c.PublicURL = strings.TrimSuffix(s, "/")
		return nil
	}},
	{"SWITCHBOARD_ANSWER_URL", "", "the URL a carrier fetches a call's instructions from (your voice-AI platform); {session} in it becomes the call's session id; required to call through a real carrier", func(c *Config, s string) error {
		if s != "" && !isHTTPURL(strings.ReplaceAll(s, "{session}", "x")) {
			return fmt.Errorf("want an http or https URL such as https://voice.example.com/answer?session={session}")
		}
		c.AnswerURL = s
		return nil
	}},
	{"SWITCHBOARD_CALL_PROCESSOR_URL", "", "when set, calls are handed to this call processor (POST {url}/telephony/originate) instead of to the carrier", func(c *Config, s string) error {
		if s != "" && !isHTTPURL(s) {
			return fmt.Errorf("want an http or https URL")
		}
		c.CallProcessorURL = strings.TrimSuffix(s, "/")
		return nil
	}},
	{"SWITCHBOARD_CARRIER_API_URLS", "", "comma-separated carrier=URL pairs replacing a carrier's API base URL (a regional edge, or a fake carrier in tests)", func(c *Config, s string) error {
		c.CarrierAPIURLs = nil
		for _, pair := range strings.Split(s, ",") {
			if pair = strings.TrimSpace(pair); pair == "" {
				continue
			}
			id, u, ok := strings.Cut(pair, "=")
			if !ok || id == "" || !isHTTPURL(u) {
				return fmt.Errorf("want pairs such as twilio=https://api.twilio.example,plivo=https://api.plivo.example; got %q", pair)
			}
			if c.CarrierAPIURLs == nil {
				c.CarrierAPIURLs = map[string]string{}
			}
			c.CarrierAPIURLs[id] = u
		}
		return nil
	}},
	{"SWITCHBOARD_SANDBOX", "auto", "offer the sandbox carrier, which simulates calls: auto (on in the embedded setup only), true or false", func(c *Config, s string) error {
		if s != "auto" && s != "true" && s != "false" {
			return fmt.Errorf("want auto, true or false")
		}
		c.Sandbox = s
		return nil
	}},
	{"SWITCHBOARD_CORS_ORIGINS", "", "comma-separated browser origins allowed to call /graphql (e.g. https://app.example.com), or *; empty: same origin only", func(c *Config, s string) error {
		c.CORSOrigins = nil
		for _, o := range strings.Split(s, ",") {
			o = strings.TrimSpace(o)
			switch {
			case o == "":
			case o == "*" || isOrigin(strings.TrimSuffix(o, "/")):
				c.CORSOrigins = append(c.CORSOrigins, strings.TrimSuffix(o, "/"))
			default:
				return fmt.Errorf("want origins such as https://app.example.com (scheme, host and port only), or *; got %q", o)
			}
		}
		return nil
	}},
	{"SWITCHBOARD_MAX_COMPLEXITY", strconv.Itoa(graph.DefaultComplexityLimit), fmt.Sprintf("the most costly GraphQL operation accepted: a field costs 1, a mutation field %d, and a connection's edges cost once per item of the page asked for (first or last, at most %[2]d; %[2]d when neither is given)", graph.MutationCost, graph.MaxPageSize), wholeNumber(func(c *Config) *int { return &c.ComplexityLimit }, 1, "")},
	{"SWITCHBOARD_MAX_DEPTH", strconv.Itoa(graph.DefaultDepthLimit), "the deepest nesting of fields accepted in a GraphQL operation (__schema and __type count as one level)",
		wholeNumber(func(c *Config) *int { return &c.MaxDepth }, 2, "a field and the fields selected in it")},
	{"SWITCHBOARD_MAX_TOKENS", strconv.Itoa(graph.DefaultTokenLimit), fmt.Sprintf("the most tokens (names, punctuation, values) a GraphQL document may hold, whose text may be at most %d KiB; validation time grows with their square", graph.MaxQueryBytes>>10),
		wholeNumber(func(c *Config) *int { return &c.MaxTokens }, 200, "a tool's schema query holds about 200")},
	{"SWITCHBOARD_MAX_BODY_BYTES", "1048576", "the largest request body (and GET query string) accepted, in bytes", func(c *Config, s string) error {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1024 {
			return fmt.Errorf("want a whole number of bytes >= 1024")
		}
		c.MaxBodyBytes = n
		return nil
	}},
	{"SWITCHBOARD_INTROSPECTION", "true", "serve the GraphQL schema to tools; false refuses __schema and __type, and turns the playground off", boolean(func(c *Config) *bool { return &c.Introspection })},
	{"SWITCHBOARD_PLAYGROUND", "true", "serve the GraphiQL playground at /", boolean(func(c *Config) *bool { return &c.Playground })},
	{"SWITCHBOARD_LOG_FORMAT", "text", "text or json", func(c *Config, s string) error {
		if s != "text" && s != "json" {
			return fmt.Errorf("want text or json")
		}
		c.LogFormat = s
		return nil
	}},
	{"SWITCHBOARD_LOG_LEVEL", "info", "debug, info, warn or error", func(c *Config, s string) error {
		if err := c.LogLevel.UnmarshalText([]byte(s)); err != nil {
			return fmt.Errorf("want debug, info, warn or error")
		}
		return nil
	}},
	{"SWITCHBOARD_SHUTDOWN_TIMEOUT", "15s", "how long in-flight requests get to finish on shutdown",
		duration(func(c *Config) *time.Duration { return &c.ShutdownTimeout }, time.Nanosecond, "15s", "")},
	// Before SWITCHBOARD_SWEEP_INTERVAL, which must be shorter: variables are read in this order.
	{"SWITCHBOARD_CAPS_LEASE", "2m", "how long a call keeps its concurrent cap slot unless the sweeper renews it: a crashed replica's calls free their slots this long after it stopped",
		duration(func(c *Config) *time.Duration { return &c.CapsLease }, time.Second, "2m", "")},
	{"SWITCHBOARD_SWEEP_INTERVAL", "", "how often the sweeper renews the cap slots of calls in progress, settles ended calls Redis missed and fails stale calls; at most half of SWITCHBOARD_CAPS_LEASE, so a slow sweep still renews leases before they lapse (empty: a third of it)", func(c *Config, s string) error {
		if s == "" {
			c.SweepInterval = c.CapsLease / 3
			return nil
		}
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 || d > c.CapsLease/2 {
			return fmt.Errorf("want a positive duration of at most half of SWITCHBOARD_CAPS_LEASE (%s), such as %s, so leases of calls in progress are renewed before they lapse", c.CapsLease, (c.CapsLease / 3).Round(time.Millisecond))
		}
		c.SweepInterval = d
		return nil
	}},
	{"SWITCHBOARD_UNCONFIRMED_TIMEOUT", "15m", "how long a call the carrier never confirmed (its request timed out or got a 5xx, or the replica died while dialling) waits for a status callback before the sweeper fails it and frees its slot; longer than the 10s a carrier request may take",
		duration(func(c *Config) *time.Duration { return &c.UnconfirmedTimeout }, carriers.DefaultCallTimeout+time.Second, "15m",
			"longer than a carrier request may take: a call still being dialled must not be failed")},
	{"SWITCHBOARD_MAX_CALL_DURATION", "4h", "how long a call may stay unfinished without a final status callback (one the carrier never delivered) before the sweeper fails it, charges its talk time so far and frees its slot; longer than the 10s a carrier request may take",
		duration(func(c *Config) *time.Duration { return &c.MaxCallDuration }, carriers.DefaultCallTimeout+time.Second, "4h",
			"longer than a carrier request may take, and longer than your longest call")},
}

// ConfigFromEnv reads the configuration through getenv (os.Getenv in production). An invalid
// value is an error that names the variable and what it expects.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	var c Config
	for _, v := range variables {
		val := strings.TrimSpace(getenv(v.Name))
		if val == "" {
			val = v.Default
		}
		if err := v.set(&c, val); err != nil {
			return Config{}, fmt.Errorf("%s: %w", v.Name, err)
		}
	}
	return c, c.check()
}

// check rejects combinations that cannot work.
func (c Config) check() error {
	if c.Embedded() {
		return nil
	}
	// Several replicas share one database: each needs the same keys, so nothing may be generated
	// per machine.
	if c.JWTSecret == "" && c.JWKSURL == "" && !c.TrustAccountHeader {
		return fmt.Errorf("SWITCHBOARD_JWT_SECRET or SWITCHBOARD_JWKS_URL: one is required with SWITCHBOARD_DATABASE_URL, so every replica accepts the same tokens")
	}
	if c.RedisURL == "" {
		return fmt.Errorf("SWITCHBOARD_REDIS_URL: required with SWITCHBOARD_DATABASE_URL, so every replica enforces the same cost caps")
	}
	if c.SecretsURL == "" {
		return fmt.Errorf("SWITCHBOARD_SECRETS_URL: required with SWITCHBOARD_DATABASE_URL, so every replica can open the credentials it stores (for example base64key://<32 bytes, base64url> or a KMS URL)")
	}
	return nil
}

// minJWTSecretLen is the shortest HS256 secret accepted (RFC 7518: at least the hash size).
const minJWTSecretLen = 32

// isHTTPURL reports an absolute http(s) URL without credentials in it.
func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
}

// isOrigin reports a browser origin: http(s), a host, an optional port, nothing else.
func isOrigin(s string) bool {
	u, err := url.Parse(s)
	return err == nil && isHTTPURL(s) && u.Path == "" && u.RawQuery == "" && u.Fragment == ""
}

func str(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, s string) error { *field(c) = s; return nil }
}

func boolean(field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, s string) error {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("want true or false")
		}
		*field(c) = b
		return nil
	}
}

// wholeNumber parses a whole number of at least min; why, if any, says what the minimum is for.
func wholeNumber(field func(*Config) *int, min int, why string) func(*Config, string) error {
	return func(c *Config, s string) error {
		n, err := strconv.Atoi(s)
		if err != nil || n < min {
			return fmt.Errorf("want a whole number >= %d%s", min, because(why))
		}
		*field(c) = n
		return nil
	}
}

// duration parses a duration of at least min, such as example; why, if any, says what the
// minimum is for.
func duration(field func(*Config) *time.Duration, min time.Duration, example, why string) func(*Config, string) error {
	return func(c *Config, s string) error {
		d, err := time.ParseDuration(s)
		if err != nil || d < min {
			if min <= time.Nanosecond {
				return fmt.Errorf("want a positive duration such as %s", example)
			}
			return fmt.Errorf("want a duration of at least %s%s, such as %s", min, because(why), example)
		}
		*field(c) = d
		return nil
	}
}

func because(why string) string {
	if why == "" {
		return ""
	}
	return " (" + why + ")"
}

func limit(field func(*Config) **int) func(*Config, string) error {
	return func(c *Config, s string) error {
		n, err := provisioning.ParseLimit(s)
		*field(c) = n
		return err
	}
}
