package testenv_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/internal/testenv"
)

// A test's own Postgres stops, refusing connections, and starts again on the same address with
// its data.
func TestStartPostgresStopsAndStartsWithItsData(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartPostgres(t)
	conn, err := pgx.Connect(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE marker (id int); INSERT INTO marker VALUES (42)`); err != nil {
		t.Fatal(err)
	}
	srv.Stop(t)
	if err := conn.Ping(ctx); err == nil {
		t.Fatal("a connection to the stopped Postgres still answers")
	}
	conn.Close(ctx)
	if c, err := pgx.Connect(ctx, srv.URL); err == nil {
		c.Close(ctx)
		t.Fatal("a stopped Postgres accepted a connection")
	}
	srv.Start(t)
	conn, err = pgx.Connect(ctx, srv.URL)
	if err != nil {
		t.Fatalf("connect after the restart: %v", err)
	}
	defer conn.Close(ctx)
	var id int
	if err := conn.QueryRow(ctx, `SELECT id FROM marker`).Scan(&id); err != nil || id != 42 {
		t.Fatalf("after the restart: marker %d, err %v; want the row written before the stop", id, err)
	}
}
