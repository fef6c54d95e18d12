package testenv

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	tcredis "github.com/testcontainers/testcontainers-go/modules/redis"
)

// RedisServer is a Redis container of one test's own, which the test may stop and start again
// (with empty memory: nothing is persisted) on the same address.
type RedisServer struct {
	URL string // redis://127.0.0.1:port/0
	ctr *tcredis.RedisContainer
}

// StartRedis starts a Redis container for t alone; it is removed when t ends.
func StartRedis(t testing.TB) *RedisServer {
	t.Helper()
	need(t)
	port := FreePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	ctr, err := tcredis.Run(ctx, image(RedisImageVar, DefaultRedisImage),
		testcontainers.WithCmd("redis-server", "--save", "", "--appendonly", "no"),
		onLoopbackPort("6379/tcp", port))
	if ctr != nil {
		t.Cleanup(func() { _ = testcontainers.TerminateContainer(ctr) })
	}
	if err != nil {
		t.Fatal(startFailure("Redis", RedisImageVar, err))
	}
	return &RedisServer{URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port), ctr: ctr}
}

// Stop stops the server; clients get connection errors until Start.
func (r *RedisServer) Stop(t testing.TB) {
	t.Helper()
	timeout := 10 * time.Second
	if err := r.ctr.Stop(context.Background(), &timeout); err != nil {
		t.Fatalf("testenv: stop Redis: %v", err)
	}
}

// Start starts the stopped server again, empty, on the same address.
func (r *RedisServer) Start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.ctr.Start(ctx); err != nil {
		t.Fatalf("testenv: start Redis again: %v", err)
	}
}

// FreePort returns a loopback TCP port nothing listens on right now.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// onLoopbackPort publishes the container's port on a fixed loopback port of the host, so its
// address survives a stop and start.
func onLoopbackPort(containerPort string, hostPort int) testcontainers.CustomizeRequestOption {
	return testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
		hc.PortBindings = network.PortMap{network.MustParsePort(containerPort): {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: fmt.Sprint(hostPort)}}}
	})
}
