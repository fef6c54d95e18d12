package testenv

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
)

// PostgresServer is a Postgres container of one test's own, which the test may stop and start
// again on the same address with its data kept (the container is stopped, not removed).
type PostgresServer struct {
	URL string // postgres://switchboard:…@127.0.0.1:port/switchboard?sslmode=disable
	ctr *tcpostgres.PostgresContainer
}

// StartPostgres starts a Postgres container for t alone; it is removed when t ends.
func StartPostgres(t testing.TB) *PostgresServer {
	t.Helper()
	need(t)
	port := FreePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	ctr, err := tcpostgres.Run(ctx, image(PostgresImageVar, DefaultPostgresImage),
		tcpostgres.WithDatabase("switchboard"),
		tcpostgres.WithUsername("switchboard"),
		tcpostgres.WithPassword("switchboard"),
		tcpostgres.BasicWaitStrategies(),
		// SIGINT is Postgres's fast shutdown (open sessions are ended), as in the official image;
		// SIGTERM would wait for every client to disconnect and end in a SIGKILL.
		testcontainers.WithConfigModifier(func(c *container.Config) { c.StopSignal = "SIGINT" }),
		onLoopbackPort("5432/tcp", port))
	if ctr != nil {
		t.Cleanup(func() { _ = testcontainers.TerminateContainer(ctr) })
	}
	if err != nil {
		t.Fatal(startFailure("Postgres", PostgresImageVar, err))
	}
	return &PostgresServer{URL: fmt.Sprintf("postgres://switchboard:switchboard@127.0.0.1:%d/switchboard?sslmode=disable", port), ctr: ctr}
}

// Stop shuts the server down (fast shutdown: open sessions are ended); clients get connection
// errors until Start.
func (p *PostgresServer) Stop(t testing.TB) {
	t.Helper()
	timeout := 30 * time.Second
	if err := p.ctr.Stop(context.Background(), &timeout); err != nil {
		t.Fatalf("testenv: stop Postgres: %v", err)
	}
}

// Start starts the stopped server again, with its data, on the same address, and returns once
// it accepts connections.
func (p *PostgresServer) Start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.ctr.Start(ctx); err != nil {
		t.Fatalf("testenv: start Postgres again: %v", err)
	}
	// The wait strategy's log lines are already in the container's log from the first start, so
	// they prove nothing now: wait until a query answers.
	for {
		err := ping(ctx, p.URL)
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("testenv: Postgres did not accept connections within a minute of its restart: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ping connects to url and runs a query.
func ping(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.Ping(ctx)
}
