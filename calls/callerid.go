package calls

import (
	"context"

	"entgo.io/ent/dialect/sql"

	"github.com/switchboard-dev/switchboard/apperr"
	"github.com/switchboard-dev/switchboard/caps"
	"github.com/switchboard-dev/switchboard/ent"
	"github.com/switchboard-dev/switchboard/ent/calllimits"
	"github.com/switchboard-dev/switchboard/ent/phonenumber"
	"github.com/switchboard-dev/switchboard/ent/provider"
)

// caller is what originate needs from Postgres before it reserves a slot: the caller ID, the
// provider it dials through and the account's limits.
type caller struct {
	numberID string
	e164     string
	agentID  *string // the agent the call is for
	provider *ent.Provider
	limits   caps.Limits
}

// callerRow is one row of the caller ID query.
type callerRow struct {
	ProviderID        string  `sql:"id"`
	AccountID         string  `sql:"account_id"`
	Carrier           string  `sql:"carrier"`
	SealedCredentials []byte  `sql:"sealed_credentials"`
	WrappedKey        []byte  `sql:"wrapped_key"`
	KeyID             string  `sql:"key_id"`
	NumberID          string  `sql:"number_id"`
	AgentID           *string `sql:"number_agent_id"`
	OutboundEnabled   bool    `sql:"number_outbound_enabled"`
	LimitsID          *string `sql:"limits_id"` // nil: the account never set its limits
	ConcurrentMax     *int    `sql:"concurrent_max"`
	CallsPerMinute    *int    `sql:"calls_per_minute"`
	DailyCallsMax     *int    `sql:"daily_calls_max"`
	DailyMinutesMax   *int    `sql:"daily_minutes_max"`
}

// callerID checks that from is a number of this account that may call out, for this agent. It
// reads the number, its provider and the account's limits in one query: the provider through
// the caller's tenant-filtered view, the number and the limits joined to it within the same
// account.
func (s *Service) callerID(ctx context.Context, in OriginateInput) (*caller, error) {
	var rows []callerRow
	err := s.client.Provider.Query().Modify(func(sel *sql.Selector) {
		n, l := sql.Table(phonenumber.Table), sql.Table(calllimits.Table)
		sel.Join(n).OnP(sql.And(
			sql.ColumnsEQ(n.C(phonenumber.FieldProviderID), sel.C(provider.FieldID)),
			sql.ColumnsEQ(n.C(phonenumber.FieldAccountID), sel.C(provider.FieldAccountID)),
		)).
			LeftJoin(l).On(l.C(calllimits.FieldAccountID), sel.C(provider.FieldAccountID)).
			Where(sql.EQ(n.C(phonenumber.FieldE164), in.From)).
			Select(sel.C(provider.FieldID), sel.C(provider.FieldAccountID), sel.C(provider.FieldCarrier),
				sel.C(provider.FieldSealedCredentials), sel.C(provider.FieldWrappedKey), sel.C(provider.FieldKeyID)).
			AppendSelectAs(n.C(phonenumber.FieldID), "number_id").
			AppendSelectAs(n.C(phonenumber.FieldAgentID), "number_agent_id").
			AppendSelectAs(n.C(phonenumber.FieldOutboundEnabled), "number_outbound_enabled").
			AppendSelectAs(l.C(calllimits.FieldID), "limits_id").
			AppendSelect(l.C(calllimits.FieldConcurrentMax), l.C(calllimits.FieldCallsPerMinute),
				l.C(calllimits.FieldDailyCallsMax), l.C(calllimits.FieldDailyMinutesMax))
	}).Scan(ctx, &rows)
	switch {
	case err != nil:
		return nil, err
	case len(rows) == 0:
		return nil, callerIDRefused("%s is not a number of this account: register it with createPhoneNumber first", in.From)
	}
	r := rows[0] // e164 is unique
	if !r.OutboundEnabled {
		return nil, callerIDRefused("%s has outbound calls switched off: enable them with updatePhoneNumber(input: {outboundEnabled: true})", in.From)
	}
	agent := in.AgentID
	if r.AgentID != nil {
		if agent != nil && *agent != *r.AgentID {
			return nil, callerIDRefused("%s is pinned to another agent: call from a number pinned to %q or an unpinned one", in.From, *agent)
		}
		agent = r.AgentID
	}
	limits := s.prov.DefaultLimits()
	if r.LimitsID != nil {
		limits = caps.Limits{ConcurrentMax: r.ConcurrentMax, CallsPerMinute: r.CallsPerMinute, DailyCallsMax: r.DailyCallsMax, DailyMinutesMax: r.DailyMinutesMax}
	}
	return &caller{
		numberID: r.NumberID,
		e164:     in.From,
		agentID:  agent,
		provider: &ent.Provider{ID: r.ProviderID, AccountID: r.AccountID, Carrier: r.Carrier,
			SealedCredentials: r.SealedCredentials, WrappedKey: r.WrappedKey, KeyID: r.KeyID},
		limits: limits,
	}, nil
}

func callerIDRefused(format string, args ...any) error {
	return apperr.New(apperr.CallerIDNotAllowed, map[string]any{"field": "from"}, format, args...)
}
