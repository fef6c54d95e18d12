package calls_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite"

	"github.com/switchboard-dev/switchboard/auth"
	"github.com/switchboard-dev/switchboard/calls"
	"github.com/switchboard-dev/switchboard/caps"
	"github.com/switchboard-dev/switchboard/carriers"
	"github.com/switchboard-dev/switchboard/carriers/sandbox"
	"github.com/switchboard-dev/switchboard/ent"
	"github.com/switchboard-dev/switchboard/ent/call"
	_ "github.com/switchboard-dev/switchboard/ent/runtime" // tenancy hooks and policies
	"github.com/switchboard-dev/switchboard/envelope"
	"github.com/switchboard-dev/switchboard/provisioning"
)

// errConnReset is the connection failure the fault driver reports, as a driver would after the
// server went away mid-statement.
var errConnReset = errors.New("read tcp 127.0.0.1:5432->127.0.0.1:40000: read: connection reset by peer")

var (
	insertCall = regexp.MustCompile("(?is)^\\s*INSERT\\s+INTO\\s+[`\"]?calls[`\"]?\\s")
	selectCall = regexp.MustCompile("(?is)^\\s*SELECT\\s.*\\sFROM\\s+[`\"]?calls[`\"]?(\\s|$)")
)

// faultDriver passes every statement to the real driver except the INSERT INTO calls, which
// fails with errConnReset, after running it when commit is set (the insert committed but its
// answer was lost) or without running it otherwise. After that failure the first SELECT on
// calls waits for gate and then fails the same way (the database is not answering yet), so
// the test can look at the caps while abandon is still waiting.
type faultDriver struct {
	dialect.Driver
	commit       bool
	gate         chan struct{}
	armed        atomic.Bool  // the insert has failed
	inserts      atomic.Int32 // INSERT INTO calls statements seen
	gatedSelects atomic.Int32 // SELECTs on calls failed after the insert
}

func (d *faultDriver) Exec(ctx context.Context, query string, args, v any) error {
	if !insertCall.MatchString(query) {
		return d.Driver.Exec(ctx, query, args, v)
	}
	d.inserts.Add(1)
	if d.commit {
		if err := d.Driver.Exec(ctx, query, args, v); err != nil {
			return fmt.Errorf("fault driver: the real insert failed: %w", err)
		}
	}
	d.armed.Store(true)
	return errConnReset
}

func (d *faultDriver) Query(ctx context.Context, query string, args, v any) error {
	if d.armed.Load() && selectCall.MatchString(query) && d.gatedSelects.Add(1) == 1 {
		select {
		case <-d.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
		return errConnReset
	}
	return d.Driver.Query(ctx, query, args, v)
}

// countingCarrier is the sandbox that counts dispatches and places nothing: an originate
// whose record failed must never reach the carrier.
type countingCarrier struct {
	sandbox.Carrier
	originates atomic.Int32
}

func (c *countingCarrier) Originate(context.Context, carriers.Credentials, carriers.OriginateRequest) (carriers.OriginateResult, error) {
	c.originates.Add(1)
	return carriers.OriginateResult{}, &carriers.Error{Carrier: sandbox.ID, Code: "TEST", Message: "the test carrier places no calls"}
}

// lockedBuffer collects the service's log lines from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type abandonEnv struct {
	svc     *calls.Service
	store   *caps.Store
	raw     *ent.Client // the database without faults, for the test's own reads
	drv     *faultDriver
	carrier *countingCarrier
	ctx     context.Context // the account's viewer
	account string
	from    string
}

// newAbandonEnv wires a Service as app.App does in the embedded setup (SQLite, miniredis,
// a local key), with the fault driver under its Ent client.
func newAbandonEnv(t *testing.T, commit bool) *abandonEnv {
	t.Helper()
	path := filepath.Join(t.TempDir(), "switchboard.db")
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	base := entsql.OpenDB(dialect.SQLite, db)
	raw := ent.NewClient(ent.Driver(base))
	if err := raw.Schema.Create(context.Background()); err != nil {
		t.Fatal(err)
	}
	drv := &faultDriver{Driver: base, commit: commit, gate: make(chan struct{})}
	client := ent.NewClient(ent.Driver(drv))

	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	// A frozen clock: the reservation and its release fall on the same UTC day.
	now := time.Now()
	store := caps.New(rdb, caps.Options{Now: func() time.Time { return now }})

	carrier := &countingCarrier{}
	set, err := carriers.NewSet([]carriers.Carrier{carrier}, nil)
	if err != nil {
		t.Fatal(err)
	}
	prov := provisioning.New(client, envelope.NewSealer(envelope.LocalKeeper([32]byte{7})), set, provisioning.Limits{})

	logs := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("service log:\n%s", logs)
		}
	})
	svc := calls.New(client, prov, store, rdb, calls.Config{
		PublicURL:      "http://127.0.0.1:1",
		LocalCallbacks: true,
		Carrier:        set.Lookup,
	}, slog.New(slog.NewTextHandler(logs, nil)))

	e := &abandonEnv{svc: svc, store: store, raw: raw, drv: drv, carrier: carrier, account: "acct_abandon", from: "+14155550170"}
	e.ctx = auth.NewContext(context.Background(), auth.Viewer{AccountID: e.account, Read: true, Write: true})
	p, err := prov.CreateProvider(e.ctx, provisioning.NewProvider{Carrier: sandbox.ID, Label: "Sandbox",
		Credentials: []byte(`{"token":"sandbox-token-0123456789"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prov.CreatePhoneNumber(e.ctx, provisioning.NewPhoneNumber{E164: e.from, ProviderID: p.ID, OutboundEnabled: true}); err != nil {
		t.Fatal(err)
	}
	// Load the account's counters (a rebuild from the empty database) before the fault matters.
	if u, err := svc.Usage(e.ctx); err != nil || u != (caps.Usage{}) {
		t.Fatalf("usage before any call = %+v, %v; want zero", u, err)
	}
	return e
}

// originateUnconfirmed places a call whose insert fails and checks what Originate answers and
// that the reservation is still held while abandon waits for the database (which the test then
// lets answer by closing e.drv.gate).
func (e *abandonEnv) originateUnconfirmed(t *testing.T) {
	t.Helper()
	c, err := e.svc.Originate(e.ctx, calls.OriginateInput{From: e.from, To: "+14155550999"})
	if c != nil || !errors.Is(err, errConnReset) {
		t.Fatalf("Originate = %+v, %v; want no call and the connection error", c, err)
	}
	if n := e.drv.inserts.Load(); n != 1 {
		t.Fatalf("INSERT INTO calls ran %d times, want 1", n)
	}
	// abandon is blocked in its first read: nothing has given the reservation back yet.
	held := caps.Usage{Concurrent: 1, CallsLastMinute: 1, CallsToday: 1}
	if u, err := e.store.Usage(e.ctx, e.account); err != nil || u != held {
		t.Fatalf("usage while the database does not answer = %+v, %v; want %+v", u, err, held)
	}
}

// waitFor polls check, up to 5 s, until it returns "" (done), and fails with its last answer.
func waitFor(t *testing.T, what string, check func() string) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if last = check(); last == "" {
			return
		}
	}
	t.Fatalf("%s: not within 5 s; last seen: %s", what, last)
}

// An insert that committed but was reported failed leaves a row behind: abandon waits until the
// database answers (its first read fails), then records the call as not placed, with a fixed
// reason and settled caps, and gives the reservation back, including today's count.
func TestAbandonCommittedInsertRecordsCallAsNotPlaced(t *testing.T) {
	e := newAbandonEnv(t, true)
	e.originateUnconfirmed(t)
	if rows, err := e.raw.Call.Query().All(e.ctx); err != nil || len(rows) != 1 || rows[0].Status != call.StatusQUEUED || rows[0].Dispatch != call.DispatchPending {
		t.Fatalf("calls while the database does not answer = %v, %v; want the committed call, queued and pending", rows, err)
	}
	close(e.drv.gate)

	const reason = "not placed: call not sent: the database did not confirm the call's record"
	var row *ent.Call
	waitFor(t, "call recorded as not placed and reservation released", func() string {
		rows, err := e.raw.Call.Query().All(e.ctx)
		if err != nil || len(rows) != 1 {
			return fmt.Sprintf("rows %v, %v", rows, err)
		}
		row = rows[0]
		u, err := e.store.Usage(e.ctx, e.account)
		if row.Status != call.StatusFAILED || !row.CapsSettled || u != (caps.Usage{}) || err != nil {
			return fmt.Sprintf("row %v; usage %+v, %v", row, u, err)
		}
		return ""
	})
	if row.Dispatch != call.DispatchRefused || row.FailureReason == nil || *row.FailureReason != reason ||
		row.EndedAt == nil || row.ProviderCallID != nil || row.AccountID != e.account || row.FromE164 != e.from {
		t.Fatalf("abandoned call = %v; want dispatch refused, failure reason %q, an end time", row, reason)
	}
	if strings.Contains(*row.FailureReason, "connection reset") || strings.Contains(*row.FailureReason, "tcp") {
		t.Errorf("failure reason %q shows the database's error", *row.FailureReason)
	}
	if n := e.drv.gatedSelects.Load(); n < 2 {
		t.Errorf("abandon read the call %d times, want a failed read and then one that found it", n)
	}
	if n := e.carrier.originates.Load(); n != 0 {
		t.Errorf("the carrier was asked %d times to place a call that was never confirmed", n)
	}
}

// An insert that never ran leaves no row: once the database answers, abandon only gives the
// reservation back, including today's count.
func TestAbandonUnwrittenInsertReleasesReservation(t *testing.T) {
	e := newAbandonEnv(t, false)
	e.originateUnconfirmed(t)
	close(e.drv.gate)

	waitFor(t, "reservation released", func() string {
		if u, err := e.store.Usage(e.ctx, e.account); err != nil || u != (caps.Usage{}) {
			return fmt.Sprintf("usage %+v, %v", u, err)
		}
		return ""
	})
	if n, err := e.raw.Call.Query().Count(e.ctx); err != nil || n != 0 {
		t.Fatalf("%d calls recorded (%v), want none", n, err)
	}
	if n := e.drv.gatedSelects.Load(); n < 2 {
		t.Errorf("abandon read the call %d times, want a failed read and then one that found none", n)
	}
	if n := e.carrier.originates.Load(); n != 0 {
		t.Errorf("the carrier was asked %d times to place a call that was never recorded", n)
	}
}
