package integration

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/integration/client"
)

// Two createPhoneNumber with the same e164 at once: the database's unique index decides, one
// succeeds and the other is CONFLICT, every time.
func TestConcurrentDuplicateNumberOneWins(t *testing.T) {
	srv := newStack(t).start(t)
	c := srv.client(t, "acct_a")
	p := createProvider(t, c, "Twilio")
	const rounds, racers = 15, 4
	for round := range rounds {
		e164 := fmt.Sprintf("+1415555%04d", round)
		errs := make([]error, racers)
		var wg sync.WaitGroup
		for i := range racers {
			wg.Go(func() {
				_, errs[i] = client.CreatePhoneNumber(ctx, c, client.CreatePhoneNumberInput{E164: e164, ProviderID: p.Id, InboundEnabled: true, OutboundEnabled: true})
			})
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			if err == nil {
				won++
				continue
			}
			wantCode(t, err, "CONFLICT", "")
		}
		if won != 1 {
			t.Fatalf("round %d: %d of %d concurrent creates of %s succeeded, want exactly 1", round, won, racers, e164)
		}
	}
	if got := numbersWhere(t, c, nil); len(got) != rounds {
		t.Fatalf("%d numbers stored, want %d", len(got), rounds)
	}
}

// deleteProvider racing createPhoneNumber on that provider: whichever the database orders first
// wins, and a number never points at a deleted provider.
func TestDeleteProviderRacingCreateNumber(t *testing.T) {
	st := newStack(t)
	srv := st.start(t)
	c := srv.client(t, "acct_a")
	outcomes := map[string]int{}
	for round := range 40 {
		p := createProvider(t, c, fmt.Sprintf("Twilio %d", round))
		var delErr, createErr error
		var wg sync.WaitGroup
		// The delete is the cheaper request: hold it back by a varying head start so that both
		// orders happen.
		delay := time.Duration(round%8) * 400 * time.Microsecond
		wg.Go(func() {
			time.Sleep(delay)
			_, delErr = client.DeleteProvider(ctx, c, p.Id)
		})
		wg.Go(func() {
			_, createErr = client.CreatePhoneNumber(ctx, c, client.CreatePhoneNumberInput{
				E164: fmt.Sprintf("+1415556%04d", round), ProviderID: p.Id, InboundEnabled: true, OutboundEnabled: true})
		})
		wg.Wait()
		switch {
		case delErr == nil && createErr == nil:
			t.Fatalf("round %d: both the delete and the create succeeded", round)
		case delErr == nil:
			wantCode(t, createErr, "NOT_FOUND", "")
			outcomes["deleted first"]++
		case createErr == nil:
			wantCode(t, delErr, "CONFLICT", "")
			outcomes["created first"]++
		default:
			t.Fatalf("round %d: both failed: delete %s; create %s", round, describe(delErr), describe(createErr))
		}
	}
	var orphans int
	if err := st.db(t).QueryRow(ctx, `SELECT count(*) FROM phone_numbers n LEFT JOIN providers p ON p.id = n.provider_id WHERE p.id IS NULL`).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 {
		t.Fatalf("%d numbers point at a deleted provider", orphans)
	}
	t.Logf("outcomes: %v", outcomes)
}

// Another account's rows are unreachable through the real client, on Postgres.
func TestTenantIsolation(t *testing.T) {
	srv := newStack(t).start(t)
	owner, intruder := srv.client(t, "acct_owner"), srv.client(t, "acct_intruder")
	p := createProvider(t, owner, "Owner's Twilio")
	n := createNumber(t, owner, p.Id, "+14155550120", ptr("agent_1"))

	first := 10
	provs, err := client.Providers(ctx, intruder, &first, nil, nil)
	must(t, err)
	if provs.Providers.TotalCount != 0 {
		t.Errorf("intruder lists %d providers", provs.Providers.TotalCount)
	}
	if got := numbersWhere(t, intruder, &client.PhoneNumberWhereInput{HasProviderWith: []client.ProviderWhereInput{{Id: &p.Id}}}); len(got) != 0 {
		t.Errorf("intruder lists numbers %v through hasProviderWith", got)
	}
	if got := numbersWhere(t, intruder, &client.PhoneNumberWhereInput{E164: &n.E164}); len(got) != 0 {
		t.Errorf("intruder lists numbers %v by e164", got)
	}
	for _, id := range []string{p.Id, n.Id} {
		res, err := client.Node(ctx, intruder, id)
		wantCode(t, err, "NOT_FOUND", "")
		if res != nil && res.Node != nil {
			t.Errorf("node(%s) returned %#v to the intruder", id, res.Node)
		}
	}
	nodes, err := client.Nodes(ctx, intruder, []string{p.Id, n.Id})
	wantCode(t, err, "NOT_FOUND", "")
	if nodes != nil && slices.ContainsFunc(nodes.Nodes, func(n client.NodesNodesNode) bool { return n != nil }) {
		t.Errorf("nodes returned %#v to the intruder", nodes.Nodes)
	}

	_, err = client.PinPhoneNumber(ctx, intruder, n.Id, "agent_evil")
	wantCode(t, err, "NOT_FOUND", "")
	_, err = client.DeletePhoneNumber(ctx, intruder, n.Id)
	wantCode(t, err, "NOT_FOUND", "")
	_, err = client.DeleteProvider(ctx, intruder, p.Id)
	wantCode(t, err, "NOT_FOUND", "")
	_, err = client.CreatePhoneNumber(ctx, intruder, client.CreatePhoneNumberInput{E164: "+14155550121", ProviderID: p.Id, InboundEnabled: true, OutboundEnabled: true})
	wantCode(t, err, "NOT_FOUND", "")

	// The owner's rows are untouched.
	res, err := client.Node(ctx, owner, n.Id)
	must(t, err)
	if got := res.Node.(*client.NodeNodePhoneNumber); got.E164 != n.E164 {
		t.Fatalf("owner's number changed: %#v", got)
	}
	if got := numbersWhere(t, owner, &client.PhoneNumberWhereInput{AgentID: ptr("agent_1")}); !slices.Equal(got, []string{n.E164}) {
		t.Fatalf("owner's pin changed: %v", got)
	}
}

// Two server instances on one Postgres and Redis act as one service.
func TestTwoInstancesActAsOne(t *testing.T) {
	st := newStack(t)
	one, two := st.start(t), st.start(t)
	c1, c2 := one.client(t, "acct_a"), two.client(t, "acct_a")

	p := createProvider(t, c1, "Twilio")
	n := createNumber(t, c1, p.Id, "+14155550130", nil)
	if got := numbersWhere(t, c2, nil); !slices.Equal(got, []string{n.E164}) {
		t.Fatalf("instance two lists %v", got)
	}
	_, err := client.PinPhoneNumber(ctx, c2, n.Id, "agent_2")
	must(t, err)
	if got := numbersWhere(t, c1, &client.PhoneNumberWhereInput{AgentID: ptr("agent_2")}); !slices.Equal(got, []string{n.E164}) {
		t.Fatalf("instance one does not see the pin made through two: %v", got)
	}
	_, err = client.UpdateCallLimits(ctx, c2, ptr(5), nil, nil, nil)
	must(t, err)
	lim, err := client.CallLimits(ctx, c1)
	must(t, err)
	if m := lim.CallLimits.ConcurrentMax; m == nil || *m != 5 {
		t.Fatalf("instance one reads concurrentMax %v after two set 5", m)
	}
	// The credentials sealed by one open on two: two refuses the delete for the number, not for
	// a key it cannot read.
	_, err = client.DeleteProvider(ctx, c2, p.Id)
	wantCode(t, err, "CONFLICT", "")
	_, err = client.DeletePhoneNumber(ctx, c2, n.Id)
	must(t, err)
	if got := numbersWhere(t, c1, nil); len(got) != 0 {
		t.Fatalf("instance one still lists %v after two deleted it", got)
	}
	_, err = client.DeleteProvider(ctx, c1, p.Id)
	must(t, err)
}

// Stop the server and start it again on the same database: everything is there and the schema
// migration changes nothing.
func TestRestartKeepsEverythingAndMigratesNothing(t *testing.T) {
	st := newStack(t)
	srv := st.start(t)
	c := srv.client(t, "acct_a")
	p := createProvider(t, c, "Twilio")
	n := createNumber(t, c, p.Id, "+14155550140", ptr("agent_1"))
	_, err := client.UpdateCallLimits(ctx, c, ptr(2), nil, nil, nil)
	must(t, err)
	schemaBefore := schemaOf(t, st)
	srv.stop()

	again := st.start(t)
	if after := schemaOf(t, st); after != schemaBefore {
		t.Fatalf("a restart changed the schema:\nbefore:\n%s\nafter:\n%s", schemaBefore, after)
	}
	c = again.client(t, "acct_a")
	if got := numbersWhere(t, c, &client.PhoneNumberWhereInput{AgentID: ptr("agent_1")}); !slices.Equal(got, []string{n.E164}) {
		t.Fatalf("after restart: %v", got)
	}
	lim, err := client.CallLimits(ctx, c)
	must(t, err)
	if m := lim.CallLimits.ConcurrentMax; m == nil || *m != 2 {
		t.Fatalf("after restart concurrentMax %v", m)
	}
	_, err = client.DeleteProvider(ctx, c, p.Id)
	wantCode(t, err, "CONFLICT", "")
}

// schemaOf describes the database's tables, columns, indexes and constraints, one per line.
func schemaOf(t *testing.T, st stack) string {
	t.Helper()
	rows, err := st.db(t).Query(ctx, `
		SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '')
		  FROM information_schema.columns WHERE table_schema = 'public'
		UNION ALL
		SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
		UNION ALL
		SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
		  FROM pg_constraint WHERE connamespace = 'public'::regnamespace
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(lines) == 0 {
		t.Fatal(errors.New("empty schema"))
	}
	return strings.Join(lines, "\n")
}
