// Package app wires Switchboard together: configuration, database, Redis, the credential
// sealer, authentication and the HTTP server. `go run .` and the integration tests start the
// server through it, so both run the same code path.
package app

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/alicebob/miniredis/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite" // the embedded database, pure Go

	"github.com/switchboard-dev/switchboard/auth"
	"github.com/switchboard-dev/switchboard/calls"
	"github.com/switchboard-dev/switchboard/caps"
	"github.com/switchboard-dev/switchboard/carriers"
	"github.com/switchboard-dev/switchboard/carriers/sandbox"
	"github.com/switchboard-dev/switchboard/ent"
	_ "github.com/switchboard-dev/switchboard/ent/runtime" // hooks and privacy policies: tenancy
	"github.com/switchboard-dev/switchboard/envelope"
	"github.com/switchboard-dev/switchboard/graph"
	"github.com/switchboard-dev/switchboard/provisioning"
)

// App is a wired Switchboard server. Close releases what New opened.
type App struct {
	cfg    Config
	log    *slog.Logger
	db     *sql.DB
	client *ent.Client
	redis  *redis.Client
	sealer *envelope.Sealer
	auth   *auth.Authenticator
	// carriers are the carrier plugins this server offers.
	carriers *carriers.Set
	// calls is built on first use (see Calls); listenURL stands in for an unset
	// SWITCHBOARD_PUBLIC_URL once Serve knows it.
	calls     *calls.Service
	callsOnce sync.Once
	listenURL string
	// devSecret signs the tokens handed out in the embedded setup (nil otherwise).
	devSecret []byte
	closers   []func() error
}

// New opens every dependency, migrates the database schema and returns the App. On error,
// whatever was opened is closed again.
func New(ctx context.Context, cfg Config, log *slog.Logger) (_ *App, err error) {
	a := &App{cfg: cfg, log: log}
	// A Config not read by ConfigFromEnv may leave these zero.
	a.cfg.CapsLease = cmp.Or(cfg.CapsLease, capsLease)
	a.cfg.SweepInterval = cmp.Or(cfg.SweepInterval, a.cfg.CapsLease/3)
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("SWITCHBOARD_DATA_DIR: cannot create %s: %w", cfg.DataDir, err)
	}
	if err := a.openDatabase(ctx); err != nil {
		return nil, err
	}
	if err := a.openRedis(ctx); err != nil {
		return nil, err
	}
	a.sealer, err = envelope.OpenSealer(ctx, cfg.SecretsURL, cfg.PreviousSecretsURLs, cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("SWITCHBOARD_SECRETS_URL: %w", err)
	}
	a.closers = append(a.closers, a.sealer.Close)
	if err := a.openAuth(ctx); err != nil {
		return nil, err
	}
	var extra []carriers.Carrier
	if cfg.SandboxEnabled() {
		extra = append(extra, sandbox.Carrier{})
	}
	if a.carriers, err = carriers.NewSet(extra, cfg.CarrierAPIURLs); err != nil {
		return nil, fmt.Errorf("SWITCHBOARD_CARRIER_API_URLS: %w", err)
	}
	return a, nil
}

func (a *App) openDatabase(ctx context.Context) error {
	var drv *entsql.Driver
	variable := "SWITCHBOARD_DATABASE_URL"
	if a.cfg.Embedded() {
		variable = "SWITCHBOARD_DATA_DIR"
		path := filepath.Join(a.cfg.DataDir, "switchboard.db")
		// A SQLite URI: the path is escaped so that "#", "?" or "%" in a folder name stay in it.
		dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
			"?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_txlock=immediate"
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			return fmt.Errorf("%s: open the embedded database %s: %w", variable, path, err)
		}
		a.db = db
		drv = entsql.OpenDB(dialect.SQLite, db)
	} else {
		pool, err := pgxpool.New(ctx, a.cfg.DatabaseURL)
		if err != nil {
			return fmt.Errorf("SWITCHBOARD_DATABASE_URL: %w", err)
		}
		a.db = stdlib.OpenDBFromPool(pool)
		a.closers = append(a.closers, func() error { pool.Close(); return nil })
		drv = entsql.OpenDB(dialect.Postgres, a.db)
	}
	a.closers = append(a.closers, a.db.Close)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := a.db.PingContext(pingCtx); err != nil {
		return fmt.Errorf("%s: cannot reach the database: %w", variable, err)
	}
	a.client = ent.NewClient(ent.Driver(drv))
	return a.migrate(ctx)
}

// migrate brings the schema up to date. On Postgres an advisory lock keeps replicas that start
// together from migrating at once.
func (a *App) migrate(ctx context.Context) error {
	if !a.cfg.Embedded() {
		conn, err := a.db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		defer conn.Close()
		const lockKey = 0x5357_4254 // "SWBT"
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", lockKey); err != nil {
			return fmt.Errorf("migrate: take lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockKey)
	}
	if err := a.client.Schema.Create(ctx); err != nil {
		return fmt.Errorf("migrate the database schema: %w", err)
	}
	return nil
}

func (a *App) openRedis(ctx context.Context) error {
	opts := &redis.Options{}
	if a.cfg.RedisURL == "" {
		mr := miniredis.NewMiniRedis()
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return fmt.Errorf("start the in-process Redis: %w", err)
		}
		a.closers = append(a.closers, func() error { mr.Close(); return nil })
		opts.Addr = mr.Addr()
	} else {
		var err error
		if opts, err = redis.ParseURL(a.cfg.RedisURL); err != nil {
			var urlErr *url.Error
			if errors.As(err, &urlErr) {
				err = urlErr.Err // url.Error quotes the URL, password and all
			}
			return fmt.Errorf("SWITCHBOARD_REDIS_URL: %w", err)
		}
	}
	a.redis = redis.NewClient(opts)
	a.closers = append(a.closers, a.redis.Close)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := a.redis.Ping(pingCtx).Err(); err != nil {
		return fmt.Errorf("SWITCHBOARD_REDIS_URL: cannot reach Redis: %w", err)
	}
	return nil
}

func (a *App) openAuth(ctx context.Context) error {
	secret := []byte(a.cfg.JWTSecret)
	if len(secret) == 0 && a.cfg.JWKSURL == "" && a.cfg.Embedded() {
		var err error
		if secret, err = auth.LoadOrCreateSecret(a.cfg.DataDir); err != nil {
			return fmt.Errorf("SWITCHBOARD_DATA_DIR: %w", err)
		}
		a.devSecret = secret
		if _, err := auth.Mint(secret, a.cfg.DevAccount, nil, time.Minute); err != nil {
			return fmt.Errorf("SWITCHBOARD_DEV_ACCOUNT: %w", err)
		}
	}
	authn, err := auth.New(ctx, auth.Config{
		HS256Secret:        secret,
		JWKSURL:            a.cfg.JWKSURL,
		Issuer:             a.cfg.JWTIssuer,
		Audience:           a.cfg.JWTAudience,
		TrustAccountHeader: a.cfg.TrustAccountHeader,
	})
	if err != nil {
		return err
	}
	a.auth = authn
	return nil
}

// Client returns the Ent client. Queries through it are confined to the account in the context.
func (a *App) Client() *ent.Client { return a.client }

// Provisioning returns the management service.
func (a *App) Provisioning() *provisioning.Service {
	return provisioning.New(a.client, a.sealer, a.carriers, a.cfg.DefaultLimits)
}

// capsLease is how long a call holds its concurrent slot without a renewal, unless
// SWITCHBOARD_CAPS_LEASE says otherwise; the sweeper renews unfinished calls three times per
// lease by default.
const capsLease = 2 * time.Minute

// Calls returns the service that places and follows calls. Without SWITCHBOARD_PUBLIC_URL its
// callbacks go to the listen address, which only the sandbox can reach.
func (a *App) Calls() *calls.Service {
	a.callsOnce.Do(func() {
		public, local := a.cfg.PublicURL, a.cfg.PublicURL == ""
		if local {
			public = a.listenURL
		}
		a.calls = calls.New(a.client, a.Provisioning(), caps.New(a.redis, caps.Options{Lease: a.cfg.CapsLease}), a.redis, calls.Config{
			PublicURL:          public,
			LocalCallbacks:     local,
			AnswerURL:          a.cfg.AnswerURL,
			CallProcessorURL:   a.cfg.CallProcessorURL,
			UnconfirmedTimeout: a.cfg.UnconfirmedTimeout, // zero: the calls package's default
			MaxCallDuration:    a.cfg.MaxCallDuration,    // zero: the calls package's default
			Carrier:            a.carriers.Lookup,
		}, a.log)
	})
	return a.calls
}

// DevToken mints a read-write token for the development account, in the embedded setup only.
func (a *App) DevToken(ttl time.Duration) (string, bool) {
	if a.devSecret == nil {
		return "", false
	}
	tok, err := auth.Mint(a.devSecret, a.cfg.DevAccount, nil, ttl)
	return tok, err == nil
}

// Close releases everything New opened, in reverse order.
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}

func (a *App) resolver() *graph.Resolver {
	return &graph.Resolver{Client: a.client, Provisioning: a.Provisioning(), CallService: a.Calls(), CarrierSet: a.carriers}
}
