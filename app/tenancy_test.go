package app

import (
	"testing"
)

// TestTenantIsolation: another account's rows behave exactly like rows that do not exist, through
// lists, node lookups, updates, deletes and IDs passed in inputs.
func TestTenantIsolation(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	owner, intruder := s.token("acct_owner"), s.token("acct_intruder")
	p := s.createProvider(owner)
	n := s.createNumber(owner, p.ID, "+14155550130", "agent-owner")
	s.createProvider(intruder) // the intruder has rows of its own

	t.Run("lists", func(t *testing.T) {
		var providers, numbers struct {
			TotalCount int
			Edges      []struct{ Node struct{ ID string } }
		}
		s.post(intruder, `{ providers { totalCount edges { node { id } } } }`, nil).into(t, "providers", &providers)
		s.post(intruder, `{ phoneNumbers(where: {e164: "+14155550130"}) { totalCount edges { node { id } } } }`, nil).into(t, "phoneNumbers", &numbers)
		if providers.TotalCount != 1 || providers.Edges[0].Node.ID == p.ID || numbers.TotalCount != 0 {
			t.Fatalf("intruder sees providers %+v numbers %+v", providers, numbers)
		}
		// where-filters on an edge cannot reach across either.
		s.post(intruder, `query($p: ID!) { phoneNumbers(where: {hasProviderWith: {id: $p}}) { totalCount } }`, map[string]any{"p": p.ID}).into(t, "phoneNumbers", &numbers)
		if numbers.TotalCount != 0 {
			t.Fatalf("intruder reached numbers through hasProviderWith: %+v", numbers)
		}
	})

	t.Run("node and nodes", func(t *testing.T) {
		for _, id := range []string{p.ID, n.ID} {
			res := s.post(intruder, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id})
			if code := res.code(t); code != "NOT_FOUND" || string(res.Data["node"]) != "null" {
				t.Errorf("node(%s): %s %s", id, code, res.Data["node"])
			}
		}
		res := s.post(intruder, `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": []string{p.ID, n.ID}})
		if len(res.Errors) == 0 || string(res.Data["nodes"]) != "[null,null]" {
			t.Errorf("nodes: data %s errors %+v", res.Data["nodes"], res.Errors)
		}
		for _, e := range res.Errors {
			if e.Extensions["code"] != "NOT_FOUND" {
				t.Errorf("nodes error %+v, want NOT_FOUND", e)
			}
		}
		// A provider's numbers, reached through the intruder's own provider, stay its own.
		var conn struct{ TotalCount int }
		s.post(owner, `query($id: ID!) { node(id: $id) { ... on Provider { numbers { totalCount } } } }`, map[string]any{"id": p.ID}).into(t, "node", &struct{ Numbers *struct{ TotalCount int } }{Numbers: &conn})
		if conn.TotalCount != 1 {
			t.Errorf("owner's provider shows %d numbers", conn.TotalCount)
		}
	})

	t.Run("update, delete and reference", func(t *testing.T) {
		for name, res := range map[string]gqlResponse{
			"updatePhoneNumber": s.post(intruder, updateNumberOp, map[string]any{"id": n.ID, "in": map[string]any{"agentID": nil}}),
			"deletePhoneNumber": s.post(intruder, `mutation($id: ID!) { deletePhoneNumber(id: $id) }`, map[string]any{"id": n.ID}),
			"deleteProvider":    s.post(intruder, `mutation($id: ID!) { deleteProvider(id: $id) }`, map[string]any{"id": p.ID}),
			"createPhoneNumber": s.post(intruder, createNumberOp, map[string]any{"in": map[string]any{"e164": "+14155550131", "providerID": p.ID}}),
		} {
			if code := res.code(t); code != "NOT_FOUND" {
				t.Errorf("%s on the owner's row: %s (%s), want NOT_FOUND", name, code, res.Errors[0].Message)
			}
		}
		// Nothing changed for the owner.
		var got numberOut
		s.post(owner, `query($id: ID!) { node(id: $id) { ... on PhoneNumber { id agentID } } }`, map[string]any{"id": n.ID}).into(t, "node", &got)
		if got.ID != n.ID || got.AgentID == nil || *got.AgentID != "agent-owner" {
			t.Fatalf("owner's number changed: %+v", got)
		}
		var conn struct{ TotalCount int }
		s.post(owner, `{ phoneNumbers { totalCount } }`, nil).into(t, "phoneNumbers", &conn)
		if conn.TotalCount != 1 {
			t.Fatalf("owner has %d numbers, want 1", conn.TotalCount)
		}
	})
}
