package testenv_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/switchboard-dev/switchboard/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// Each test gets a database and a Redis database of its own, empty.
func TestEachTestGetsItsOwnEmptyStores(t *testing.T) {
	ctx := context.Background()
	for i := range 2 {
		t.Run("", func(t *testing.T) {
			conn, err := pgx.Connect(ctx, testenv.Postgres(t))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			var tables int
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables); err != nil || tables != 0 {
				t.Fatalf("run %d: %d tables in a new database (err %v)", i, tables, err)
			}
			if _, err := conn.Exec(ctx, `CREATE TABLE marker (id int)`); err != nil {
				t.Fatal(err)
			}

			rdb := testenv.Redis(t)
			if n, err := rdb.DBSize(ctx).Result(); err != nil || n != 0 {
				t.Fatalf("run %d: %d keys in a new Redis database (err %v)", i, n, err)
			}
			if err := rdb.Set(ctx, "marker", "1", 0).Err(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A test's own Redis stops, and starts again empty on the same address.
func TestStartRedisStopsAndStartsEmpty(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartRedis(t)
	opts, err := redis.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	srv.Stop(t)
	if err := rdb.Ping(ctx).Err(); err == nil {
		t.Fatal("a stopped Redis answered")
	}
	srv.Start(t)
	if n, err := rdb.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Fatalf("restarted Redis: %d keys, err %v", n, err)
	}
}
