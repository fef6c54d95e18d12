// Package testenv gives tests real Postgres and Redis servers, started with testcontainers-go
// once per test binary and shared by its tests, each test getting a database and a Redis
// database of its own.
//
// A package that uses it runs its tests through [Main], which removes the containers afterwards:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// Images come from SWITCHBOARD_TEST_POSTGRES_IMAGE and SWITCHBOARD_TEST_REDIS_IMAGE, defaulting
// to the official postgres and redis images; integration/images/build.sh builds local ones for
// machines without a registry. Under `go test -short` the tests that need containers are skipped;
// otherwise a missing Docker engine fails them with a message saying what to install.
package testenv

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
	tcredis "github.com/testcontainers/testcontainers-go/modules/redis"
)

// Default images: the official ones, pinned to a major version.
const (
	DefaultPostgresImage = "postgres:15"
	DefaultRedisImage    = "redis:7"
)

// Environment variables that name the images.
const (
	PostgresImageVar = "SWITCHBOARD_TEST_POSTGRES_IMAGE"
	RedisImageVar    = "SWITCHBOARD_TEST_REDIS_IMAGE"
)

// redisDatabases is how many logical databases the shared Redis has: at most this many tests
// hold one at a time.
const redisDatabases = 64

// startTimeout bounds a container start, image pull included.
const startTimeout = 3 * time.Minute

// Main runs the package's tests and then removes the containers they started.
func Main(m *testing.M) {
	code := m.Run()
	shutdown()
	os.Exit(code)
}

var (
	pgOnce sync.Once
	pg     *tcpostgres.PostgresContainer
	pgDSN  string // the admin connection string
	pgErr  error
	pgSeq  atomic.Int64

	redisOnce sync.Once
	redisCtr  *tcredis.RedisContainer
	redisAddr string
	redisErr  error
	redisDBs  chan int

	started   []testcontainers.Container
	startedMu sync.Mutex
)

// Postgres returns the connection string of a new, empty database of its own for t, on the
// shared Postgres container. The database is dropped when t ends.
func Postgres(t testing.TB) string {
	t.Helper()
	need(t)
	pgOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		pg, pgErr = tcpostgres.Run(ctx, image(PostgresImageVar, DefaultPostgresImage),
			tcpostgres.WithDatabase("switchboard"),
			tcpostgres.WithUsername("switchboard"),
			tcpostgres.WithPassword("switchboard"),
			tcpostgres.BasicWaitStrategies(),
		)
		if pg != nil {
			track(pg)
		}
		if pgErr == nil {
			pgDSN, pgErr = pg.ConnectionString(ctx, "sslmode=disable")
		}
	})
	if pgErr != nil {
		t.Fatal(startFailure("Postgres", PostgresImageVar, pgErr))
	}
	name := fmt.Sprintf("t%d_%d", os.Getpid(), pgSeq.Add(1))
	admin(t, "CREATE DATABASE "+name)
	t.Cleanup(func() { admin(t, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	return withDatabase(pgDSN, name)
}

// PostgresAdmin returns the connection string of the shared container's own database, for tests
// that need to reach the server itself (to terminate connections, say).
func PostgresAdmin(t testing.TB) string {
	t.Helper()
	Postgres(t) // starts the container
	return pgDSN
}

// admin runs one statement on the shared container's own database.
func admin(t testing.TB, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgDSN)
	if err != nil {
		t.Fatalf("testenv: connect to Postgres: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("testenv: %s: %v", sql, err)
	}
}

// withDatabase returns dsn (a postgres:// URL) pointing at database name instead.
func withDatabase(dsn, name string) string {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		panic(err) // the module built it
	}
	u := strings.Replace(dsn, "/"+cfg.Database+"?", "/"+name+"?", 1)
	if u == dsn {
		panic("testenv: cannot rewrite database in " + dsn)
	}
	return u
}

// Redis returns a client on an empty logical database of the shared Redis container, held by t
// alone until it ends (then flushed and handed to the next test).
func Redis(t testing.TB) *redis.Client {
	t.Helper()
	db := RedisDB(t) // starts the container, so redisAddr is set after it
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr, DB: db})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// RedisURL returns a redis:// URL of an empty logical database held by t alone, as [Redis] does.
func RedisURL(t testing.TB) string {
	t.Helper()
	db := RedisDB(t)
	return fmt.Sprintf("redis://%s/%d", redisAddr, db)
}

// RedisDB reserves an empty logical database of the shared Redis container for t and returns its
// number; its address is [RedisAddr].
func RedisDB(t testing.TB) int {
	t.Helper()
	need(t)
	redisOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		redisCtr, redisErr = tcredis.Run(ctx, image(RedisImageVar, DefaultRedisImage),
			testcontainers.WithCmd("redis-server", "--databases", fmt.Sprint(redisDatabases), "--save", "", "--appendonly", "no"))
		if redisCtr != nil {
			track(redisCtr)
		}
		if redisErr == nil {
			var endpoint string
			endpoint, redisErr = redisCtr.Endpoint(ctx, "")
			redisAddr = endpoint
		}
		redisDBs = make(chan int, redisDatabases)
		for i := range redisDatabases {
			redisDBs <- i
		}
	})
	if redisErr != nil {
		t.Fatal(startFailure("Redis", RedisImageVar, redisErr))
	}
	var db int
	select {
	case db = <-redisDBs:
	case <-time.After(time.Minute):
		t.Fatalf("testenv: all %d Redis databases are held by other tests", redisDatabases)
	}
	flush := func() error {
		c := redis.NewClient(&redis.Options{Addr: redisAddr, DB: db})
		defer c.Close()
		return c.FlushDB(context.Background()).Err()
	}
	if err := flush(); err != nil {
		redisDBs <- db
		t.Fatalf("testenv: flush Redis database %d: %v", db, err)
	}
	t.Cleanup(func() {
		if flush() == nil {
			redisDBs <- db
		}
	})
	return db
}

// RedisAddr is the host:port of the shared Redis container (after [Redis] or [RedisDB]).
func RedisAddr() string { return redisAddr }

// need skips t under -short: it needs containers.
func need(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Docker (Postgres and Redis containers); runs without -short")
	}
}

func image(envVar, fallback string) string {
	if v := os.Getenv(envVar); v != "" {
		return v
	}
	return fallback
}

// startFailure explains a container that did not start, leading with what to do about it.
func startFailure(what, envVar string, err error) string {
	hint := fmt.Sprintf("the %s image could not be started; set %s to an image this machine has, "+
		"or build local ones with integration/images/build.sh", what, envVar)
	if !dockerReachable() {
		hint = "no Docker engine is reachable: install Docker (Debian: apt-get install docker.io) and start it, " +
			"or run the unit tests alone with go test -short ./..."
	}
	return fmt.Sprintf("testenv: %s container: %s\n%v", what, hint, err)
}

// dockerReachable reports whether a Docker engine answers.
func dockerReachable() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return false
	}
	defer p.Close()
	return p.Health(ctx) == nil
}

// track remembers a started container for [Main] to remove.
func track(c testcontainers.Container) {
	startedMu.Lock()
	defer startedMu.Unlock()
	started = append(started, c)
}

func shutdown() {
	startedMu.Lock()
	defer startedMu.Unlock()
	for _, c := range started {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := testcontainers.TerminateContainer(c, testcontainers.StopContext(ctx)); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: remove container: %v\n", err)
		}
		cancel()
	}
	started = nil
}
