package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/switchboard-dev/switchboard/integration/client"
)

var ctx = context.Background()

// twilioCredentials is a well-formed Twilio credentials document (the API does not call Twilio
// to store it).
func twilioCredentials(n int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"account_sid": "AC%032x", "auth_token": "token%027d"}`, n, n))
}

func createProvider(t *testing.T, c clientT, label string) client.ProviderFields {
	t.Helper()
	res, err := client.CreateProvider(ctx, c, client.CreateProviderInput{Carrier: "twilio", Label: label, Credentials: twilioCredentials(len(label))})
	must(t, err)
	return res.CreateProvider.ProviderFields
}

func createProviderWith(t testing.TB, c clientT, carrier string, creds json.RawMessage) string {
	t.Helper()
	res, err := client.CreateProvider(ctx, c, client.CreateProviderInput{Carrier: carrier, Label: carrier, Credentials: creds})
	must(t, err)
	return res.CreateProvider.Id
}

func createNumber(t testing.TB, c clientT, providerID, e164 string, agent *string) client.PhoneNumberFields {
	t.Helper()
	res, err := client.CreatePhoneNumber(ctx, c, client.CreatePhoneNumberInput{E164: e164, ProviderID: providerID, AgentID: agent, InboundEnabled: true, OutboundEnabled: true})
	must(t, err)
	return res.CreatePhoneNumber.PhoneNumberFields
}

// numbersWhere lists the account's numbers matching where, as e164s in creation order.
func numbersWhere(t *testing.T, c clientT, where *client.PhoneNumberWhereInput) []string {
	t.Helper()
	first := 100
	res, err := client.PhoneNumbers(ctx, c, &first, nil, where, nil)
	must(t, err)
	var got []string
	for _, e := range res.PhoneNumbers.Edges {
		got = append(got, e.Node.E164)
	}
	if res.PhoneNumbers.TotalCount != len(got) {
		t.Errorf("totalCount %d, but %d edges", res.PhoneNumbers.TotalCount, len(got))
	}
	return got
}

func ptr[T any](v T) *T { return &v }

func TestCarriersAreListed(t *testing.T) {
	srv := newStack(t).start(t)
	res, err := client.Carriers(ctx, srv.client(t, "acct_a"))
	must(t, err)
	var ids []string
	for _, c := range res.Carriers {
		ids = append(ids, c.Id)
		if len(c.CredentialFields) == 0 {
			t.Errorf("%s lists no credential fields", c.Id)
		}
	}
	for _, want := range []string{"plivo", "twilio", "vobiz"} {
		if !slices.Contains(ids, want) {
			t.Errorf("carriers %v lack %s", ids, want)
		}
	}
	// In production the sandbox is off unless enabled.
	if slices.Contains(ids, "sandbox") {
		t.Errorf("a production server offers the sandbox: %v", ids)
	}
	_, err = client.CreateProvider(ctx, srv.client(t, "acct_a"), client.CreateProviderInput{Carrier: "sandbox", Label: "x",
		Credentials: json.RawMessage(`{"token": "sandbox-token-0123456789"}`)})
	wantCode(t, err, "BAD_USER_INPUT", "carrier")
}

func TestProviderAndNumberLifecycle(t *testing.T) {
	st := newStack(t)
	srv := st.start(t)
	c := srv.client(t, "acct_a")

	p := createProvider(t, c, "Main Twilio")
	if !strings.HasPrefix(p.Id, "prov_") || p.Carrier != "twilio" || p.Hint == "" || strings.Contains(p.Hint, "token") {
		t.Fatalf("created provider %+v", p)
	}
	a := createNumber(t, c, p.Id, "+14155550100", nil)
	b := createNumber(t, c, p.Id, "+14155550101", ptr("agent_sales"))
	if a.AgentID != nil || !a.InboundEnabled || !a.OutboundEnabled || a.Provider.Id != p.Id || a.ProviderID != p.Id {
		t.Fatalf("created number %+v", a)
	}

	first := 10
	provs, err := client.Providers(ctx, c, &first, nil, nil)
	must(t, err)
	if provs.Providers.TotalCount != 1 || provs.Providers.Edges[0].Node.Numbers.TotalCount != 2 {
		t.Fatalf("providers: %+v", provs.Providers)
	}

	if got := numbersWhere(t, c, nil); !slices.Equal(got, []string{a.E164, b.E164}) {
		t.Fatalf("all numbers: %v", got)
	}
	if got := numbersWhere(t, c, &client.PhoneNumberWhereInput{AgentID: ptr("agent_sales")}); !slices.Equal(got, []string{b.E164}) {
		t.Fatalf("numbers of agent_sales: %v", got)
	}
	if got := numbersWhere(t, c, &client.PhoneNumberWhereInput{AgentIDIsNil: ptr(true)}); !slices.Equal(got, []string{a.E164}) {
		t.Fatalf("unpinned numbers: %v", got)
	}

	pinned, err := client.PinPhoneNumber(ctx, c, a.Id, "agent_support")
	must(t, err)
	if got := pinned.UpdatePhoneNumber.AgentID; got == nil || *got != "agent_support" {
		t.Fatalf("pin: agentID %v", got)
	}
	unpinned, err := client.UnpinPhoneNumber(ctx, c, b.Id)
	must(t, err)
	if unpinned.UpdatePhoneNumber.AgentID != nil {
		t.Fatalf("unpin left agentID %v", *unpinned.UpdatePhoneNumber.AgentID)
	}
	toggled, err := client.SetPhoneNumberDirections(ctx, c, a.Id, nil, ptr(false))
	must(t, err)
	if n := toggled.UpdatePhoneNumber; !n.InboundEnabled || n.OutboundEnabled || n.AgentID == nil || *n.AgentID != "agent_support" {
		t.Fatalf("outbound off changed other fields: %+v", n)
	}
	if got := numbersWhere(t, c, &client.PhoneNumberWhereInput{OutboundEnabled: ptr(false)}); !slices.Equal(got, []string{a.E164}) {
		t.Fatalf("outbound-disabled numbers: %v", got)
	}

	node, err := client.Node(ctx, c, a.Id)
	must(t, err)
	if n, ok := node.Node.(*client.NodeNodePhoneNumber); !ok || n.E164 != a.E164 {
		t.Fatalf("node(%s) = %#v", a.Id, node.Node)
	}
	node, err = client.Node(ctx, c, p.Id)
	must(t, err)
	if n, ok := node.Node.(*client.NodeNodeProvider); !ok || n.Label != "Main Twilio" {
		t.Fatalf("node(%s) = %#v", p.Id, node.Node)
	}
	nodes, err := client.Nodes(ctx, c, []string{b.Id, p.Id})
	must(t, err)
	if len(nodes.Nodes) != 2 || *nodes.Nodes[0].GetTypename() != "PhoneNumber" || *nodes.Nodes[1].GetTypename() != "Provider" {
		t.Fatalf("nodes: %#v", nodes.Nodes)
	}

	_, err = client.DeleteProvider(ctx, c, p.Id)
	msg := wantCode(t, err, "CONFLICT", "")
	if !strings.Contains(msg, "2") {
		t.Errorf("CONFLICT should say how many numbers hold the provider: %q", msg)
	}
	for _, n := range []client.PhoneNumberFields{a, b} {
		del, err := client.DeletePhoneNumber(ctx, c, n.Id)
		must(t, err)
		if del.DeletePhoneNumber != n.Id {
			t.Fatalf("deletePhoneNumber returned %q", del.DeletePhoneNumber)
		}
	}
	_, err = client.Node(ctx, c, a.Id)
	wantCode(t, err, "NOT_FOUND", "")
	_, err = client.DeleteProvider(ctx, c, p.Id)
	must(t, err)
	provs, err = client.Providers(ctx, c, &first, nil, nil)
	must(t, err)
	if provs.Providers.TotalCount != 0 {
		t.Fatalf("provider still listed after delete: %+v", provs.Providers)
	}
}

func TestErrorsCarryTheirCodes(t *testing.T) {
	srv := newStack(t).start(t)
	c := srv.client(t, "acct_a")
	p := createProvider(t, c, "Twilio")
	createNumber(t, c, p.Id, "+14155550110", nil)

	t.Run("bad credentials", func(t *testing.T) {
		_, err := client.CreateProvider(ctx, c, client.CreateProviderInput{Carrier: "twilio", Label: "x",
			Credentials: json.RawMessage(`{"account_sid": "AC123", "auth_token": "abc"}`)})
		wantCode(t, err, "BAD_USER_INPUT", "credentials.account_sid")
	})
	t.Run("unknown carrier", func(t *testing.T) {
		_, err := client.CreateProvider(ctx, c, client.CreateProviderInput{Carrier: "nope", Label: "x", Credentials: twilioCredentials(1)})
		wantCode(t, err, "BAD_USER_INPUT", "carrier")
	})
	t.Run("bad e164", func(t *testing.T) {
		_, err := client.CreatePhoneNumber(ctx, c, client.CreatePhoneNumberInput{E164: "0155 555", ProviderID: p.Id, InboundEnabled: true, OutboundEnabled: true})
		wantCode(t, err, "BAD_USER_INPUT", "e164")
	})
	t.Run("duplicate e164", func(t *testing.T) {
		_, err := client.CreatePhoneNumber(ctx, c, client.CreatePhoneNumberInput{E164: "+14155550110", ProviderID: p.Id, InboundEnabled: true, OutboundEnabled: true})
		wantCode(t, err, "CONFLICT", "")
	})
	t.Run("unknown provider", func(t *testing.T) {
		_, err := client.CreatePhoneNumber(ctx, c, client.CreatePhoneNumberInput{E164: "+14155550111", ProviderID: "prov_01JZZZZZZZZZZZZZZZZZZZZZZZ", InboundEnabled: true, OutboundEnabled: true})
		wantCode(t, err, "NOT_FOUND", "")
	})
	t.Run("negative limit", func(t *testing.T) {
		_, err := client.UpdateCallLimits(ctx, c, ptr(-1), nil, nil, nil)
		wantCode(t, err, "BAD_USER_INPUT", "concurrentMax")
	})
	t.Run("read-only token cannot write", func(t *testing.T) {
		_, err := client.CreateProvider(ctx, srv.client(t, "acct_a", "telephony:read"), client.CreateProviderInput{Carrier: "twilio", Label: "x", Credentials: twilioCredentials(2)})
		wantCode(t, err, "FORBIDDEN", "")
	})
	t.Run("no token", func(t *testing.T) {
		_, err := client.Carriers(ctx, srv.clientWithToken(""))
		wantCode(t, err, "UNAUTHENTICATED", "")
	})
	t.Run("forged token", func(t *testing.T) {
		_, err := client.Carriers(ctx, srv.clientWithToken("eyJhbGciOiJIUzI1NiJ9.eyJhY2NvdW50X2lkIjoiYWNjdF9hIn0.c2lnbmF0dXJl"))
		wantCode(t, err, "UNAUTHENTICATED", "")
	})
}

func TestCallLimits(t *testing.T) {
	srv := newStack(t).start(t)
	c := srv.client(t, "acct_a")
	limits := func() client.LimitsFields {
		res, err := client.CallLimits(ctx, c)
		must(t, err)
		return res.CallLimits.LimitsFields
	}
	show := func(l client.LimitsFields) string {
		s := func(p *int) string {
			if p == nil {
				return "null"
			}
			return fmt.Sprint(*p)
		}
		return strings.Join([]string{s(l.ConcurrentMax), s(l.CallsPerMinute), s(l.DailyCallsMax), s(l.DailyMinutesMax)}, " ")
	}
	if got := show(limits()); got != "10 60 1000 1000" {
		t.Fatalf("defaults: %s", got)
	}
	res, err := client.UpdateCallLimits(ctx, c, ptr(3), nil, ptr(0), nil)
	must(t, err)
	if got := show(res.UpdateCallLimits.LimitsFields); got != "3 60 0 1000" {
		t.Fatalf("after update: %s", got)
	}
	cleared, err := client.ClearConcurrentMax(ctx, c)
	must(t, err)
	if got := show(cleared.UpdateCallLimits.LimitsFields); got != "null 60 0 1000" {
		t.Fatalf("after clearing concurrentMax: %s", got)
	}
	if got := show(limits()); got != "null 60 0 1000" {
		t.Fatalf("read back: %s", got)
	}
	other := srv.client(t, "acct_b")
	res2, err := client.CallLimits(ctx, other)
	must(t, err)
	if got := show(res2.CallLimits.LimitsFields); got != "10 60 1000 1000" {
		t.Fatalf("another account sees %s, want the defaults", got)
	}
}
