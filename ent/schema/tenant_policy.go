package schema

import (
	"context"
	"fmt"
	"slices"

	"entgo.io/ent"
	"entgo.io/ent/entql"

	"github.com/switchboard-dev/switchboard/apperr"
	"github.com/switchboard-dev/switchboard/auth"
	gen "github.com/switchboard-dev/switchboard/ent"
	"github.com/switchboard-dev/switchboard/ent/hook"
	"github.com/switchboard-dev/switchboard/ent/privacy"
	"github.com/switchboard-dev/switchboard/ids"
)

// Policy confines every query and mutation to the caller's account (auth.Viewer in the
// context), so no resolver has to remember a WHERE clause: rows of another account are
// filtered out as if they did not exist. Mutations also need the write scope. System work that
// spans accounts runs with privacy.DecisionContext(ctx, privacy.Allow).
func (TenantMixin) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			filterToViewerAccount(),
		},
		Mutation: privacy.MutationPolicy{
			privacy.MutationRuleFunc(func(ctx context.Context, _ ent.Mutation) error {
				if v, ok := auth.FromContext(ctx); !ok || !v.Write {
					return privacy.Denyf("the caller may not change this account's data")
				}
				return privacy.Skip
			}),
			filterToViewerAccount(),
		},
	}
}

func filterToViewerAccount() privacy.QueryMutationRule {
	return privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
		v, ok := auth.FromContext(ctx)
		if !ok {
			return privacy.Denyf("no account in context")
		}
		f.Where(entql.FieldEQ(fieldAccountID, v.AccountID))
		return privacy.Skip
	})
}

// Hooks of the TenantMixin: a created row belongs to the caller's account, and every row a
// mutation links to must be one the caller can see.
func (TenantMixin) Hooks() []ent.Hook {
	return []ent.Hook{
		hook.On(stampAccount, ent.OpCreate),
		hook.On(referencesMustBeVisible, ent.OpCreate|ent.OpUpdate|ent.OpUpdateOne),
	}
}

func stampAccount(next ent.Mutator) ent.Mutator {
	return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
		v, ok := auth.FromContext(ctx)
		if !ok {
			return nil, fmt.Errorf("create %s: no account in context", m.Type())
		}
		if err := m.SetField(fieldAccountID, v.AccountID); err != nil {
			return nil, err
		}
		return next.Mutate(ctx, m)
	})
}

// referencesMustBeVisible looks every added edge ID up through the caller's own, tenant-filtered
// view, so an ID of another account's row is NOT_FOUND exactly like an ID that does not exist.
func referencesMustBeVisible(next ent.Mutator) ent.Mutator {
	return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
		withClient, ok := m.(interface{ Client() *gen.Client })
		if !ok {
			return nil, fmt.Errorf("%s mutation has no client", m.Type())
		}
		client := withClient.Client()
		for _, edge := range m.AddedEdges() {
			for _, v := range m.AddedIDs(edge) {
				id, _ := v.(string)
				if seenByViewer(ctx, id) {
					continue
				}
				table, err := ids.TableOf(id)
				if err == nil {
					_, err = client.Noder(ctx, id, gen.WithFixedNodeType(table))
				}
				if table == "" || gen.IsNotFound(err) {
					return nil, apperr.NotFoundf("there is no %s with ID %q in this account", edge, id)
				}
				if err != nil {
					return nil, err
				}
			}
		}
		return next.Mutate(ctx, m)
	})
}

// seenKey is the context key of the rows a request has read through its caller's own view.
type seenKey struct{}

// seen is a set of row IDs an account's view returned.
type seen struct {
	account string
	ids     []string
}

// SeenByViewer notes that the rows with these IDs, of account, were just read through the
// caller's own tenant-filtered view, so a mutation in the same request that links to them need
// not look them up again. It vouches for nothing unless account, as read from the rows, is the
// account of the viewer in ctx.
func SeenByViewer(ctx context.Context, account string, ids ...string) context.Context {
	v, ok := auth.FromContext(ctx)
	if !ok || v.AccountID != account {
		return ctx
	}
	return context.WithValue(ctx, seenKey{}, seen{account: account, ids: ids})
}

// seenByViewer says whether SeenByViewer vouched for id for the viewer in ctx.
func seenByViewer(ctx context.Context, id string) bool {
	s, ok := ctx.Value(seenKey{}).(seen)
	v, viewer := auth.FromContext(ctx)
	return ok && viewer && v.AccountID == s.account && slices.Contains(s.ids, id)
}
