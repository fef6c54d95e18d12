package calls

import (
	"context"
	"time"

	"entgo.io/ent/privacy"

	"github.com/switchboard-dev/switchboard/auth"
	"github.com/switchboard-dev/switchboard/carriers"
	"github.com/switchboard-dev/switchboard/ent/call"
)

// Run keeps the caps in step with the calls until ctx ends: every interval it renews the leases
// of unfinished calls, settles ended calls that Redis missed, and fails calls that never heard
// back from their carrier. Every replica may run it; each step is idempotent.
func (s *Service) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.Sweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep runs the bookkeeping once.
func (s *Service) Sweep(ctx context.Context) {
	all := privacy.DecisionContext(ctx, privacy.Allow)
	unfinished := call.StatusIn(before(carriers.StatusCompleted)...)
	counted := call.DispatchNEQ(call.DispatchRefused)

	active, err := s.client.Call.Query().Where(unfinished, counted).Select(call.FieldID, call.FieldAccountID).All(all)
	if err != nil {
		s.log.Warn("sweep: list unfinished calls", "err", err)
		return
	}
	byAccount := map[string][]string{}
	for _, c := range active {
		byAccount[c.AccountID] = append(byAccount[c.AccountID], c.ID)
	}
	for account, ids := range byAccount {
		// When Redis lost the account's counters they are rebuilt now, not at its next call.
		err := s.withCounters(asAccount(ctx, account), account, func() error { return s.caps.Renew(ctx, account, ids...) })
		if err != nil {
			s.log.Warn("sweep: renew leases", "account", account, "err", err)
		}
	}

	ended, err := s.client.Call.Query().Where(call.CapsSettled(false), call.StatusIn(finals()...)).All(all)
	if err != nil {
		s.log.Warn("sweep: list unsettled calls", "err", err)
	}
	for _, c := range ended {
		s.settle(asAccount(ctx, c.AccountID), c)
	}

	now := time.Now().UTC()
	stale, err := s.client.Call.Query().Where(unfinished, call.Or(
		call.CreatedAtLT(now.Add(-s.cfg.MaxCallDuration)),
		call.And(call.DispatchIn(call.DispatchPending, call.DispatchUnknown), call.CreatedAtLT(now.Add(-s.cfg.UnconfirmedTimeout))),
	)).All(all)
	if err != nil {
		s.log.Warn("sweep: list stale calls", "err", err)
	}
	for _, c := range stale {
		reason := "no final status from the carrier within " + s.cfg.MaxCallDuration.String()
		if c.Dispatch != call.DispatchSent {
			reason = "the carrier never confirmed the call"
		}
		var talk time.Duration
		if c.AnsweredAt != nil {
			talk = now.Sub(*c.AnsweredAt) // answered and never hung up, as far as we know: charge it all
		}
		if err := s.Apply(asAccount(ctx, c.AccountID), c, carriers.StatusEvent{Status: carriers.StatusFailed, Reason: reason, Duration: talk}); err != nil {
			s.log.Warn("sweep: fail stale call", "call", c.ID, "err", err)
		}
	}
}

// asAccount acts for an account, as the system.
func asAccount(ctx context.Context, account string) context.Context {
	return auth.NewContext(ctx, auth.Viewer{AccountID: account, Read: true, Write: true})
}

// statuses are all call statuses.
var statuses = []call.Status{call.StatusQUEUED, call.StatusRINGING, call.StatusIN_PROGRESS, call.StatusCOMPLETED,
	call.StatusBUSY, call.StatusNO_ANSWER, call.StatusFAILED, call.StatusCANCELED}

func finals() []call.Status {
	var out []call.Status
	for _, st := range statuses {
		if carriers.CallStatus(st).Terminal() {
			out = append(out, st)
		}
	}
	return out
}
