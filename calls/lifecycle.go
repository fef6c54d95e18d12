package calls

import (
	"context"
	"errors"
	"net/http"
	"time"

	"entgo.io/ent/privacy"

	"github.com/switchboard-dev/switchboard/auth"
	"github.com/switchboard-dev/switchboard/caps"
	"github.com/switchboard-dev/switchboard/carriers"
	"github.com/switchboard-dev/switchboard/ent"
	"github.com/switchboard-dev/switchboard/ent/call"
	"github.com/switchboard-dev/switchboard/provisioning"
)

// WebhookPattern is the route of the carriers' status callbacks, for http.ServeMux.
const WebhookPattern = "POST /webhooks/{carrier}/{providerID}"

// ServeWebhook applies a carrier's status callback. The carrier's signature is checked with the
// provider's own token against the URL the carrier was given (PublicURL + the request's path and
// query): a missing or wrong signature is 403 and changes nothing.
func (s *Service) ServeWebhook(w http.ResponseWriter, r *http.Request) {
	carrierID, providerID := r.PathValue("carrier"), r.PathValue("providerID")
	// The callback carries no token: the provider, looked up without a tenant, names the account.
	p, err := s.client.Provider.Get(privacy.DecisionContext(r.Context(), privacy.Allow), providerID)
	switch {
	case err != nil && !ent.IsNotFound(err):
		s.webhookError(w, http.StatusServiceUnavailable, "the database is unavailable", err, providerID) // the carrier retries
		return
	case err != nil || p.Carrier != carrierID:
		s.webhookError(w, http.StatusNotFound, "no such provider", err, providerID)
		return
	}
	ctx := auth.NewContext(r.Context(), auth.Viewer{AccountID: p.AccountID, Read: true, Write: true})
	plugin, ok := s.cfg.Carrier(p.Carrier)
	parser, parses := plugin.(carriers.CallbackParser)
	if !ok || !parses {
		s.webhookError(w, http.StatusNotFound, "this carrier sends no status callbacks here", nil, providerID)
		return
	}
	creds, err := s.prov.OpenCredentials(ctx, p)
	if err != nil {
		s.webhookError(w, http.StatusServiceUnavailable, "credentials cannot be opened now", err, providerID)
		return
	}
	ev, err := parser.ParseStatusCallback(r, s.cfg.PublicURL+r.URL.RequestURI(), creds)
	switch {
	case errors.Is(err, carriers.ErrBadSignature):
		s.webhookError(w, http.StatusForbidden, "bad signature", err, providerID)
		return
	case err != nil:
		s.webhookError(w, http.StatusBadRequest, "malformed callback", err, providerID)
		return
	}
	c, err := s.findCall(ctx, p.ID, ev.ProviderCallID, r.URL.Query().Get("call"))
	if err != nil {
		s.webhookError(w, http.StatusNotFound, "no such call", err, providerID)
		return
	}
	if err := s.Apply(ctx, c, ev); err != nil {
		s.webhookError(w, http.StatusServiceUnavailable, "could not apply the status", err, providerID)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) webhookError(w http.ResponseWriter, code int, msg string, err error, providerID string) {
	s.log.Warn("status callback refused", "status", code, "reason", msg, "provider", providerID, "err", err)
	http.Error(w, msg, code)
}

// findCall finds the callback's call by the carrier's call id, or by Switchboard's id from the
// callback URL when the carrier's id never came back.
func (s *Service) findCall(ctx context.Context, providerID, providerCallID, callID string) (*ent.Call, error) {
	if providerCallID != "" {
		c, err := s.client.Call.Query().Where(call.ProviderID(providerID), call.ProviderCallID(providerCallID)).First(ctx)
		if !ent.IsNotFound(err) {
			return c, err
		}
	}
	return s.client.Call.Query().Where(call.ID(callID), call.ProviderID(providerID), call.ProviderCallIDIsNil()).Only(ctx)
}

// Apply moves a call to the event's status when that is a step forward; a repeated or late
// event changes nothing. A final status frees the call's slot and charges its talk time, once.
func (s *Service) Apply(ctx context.Context, c *ent.Call, ev carriers.StatusEvent) error {
	to := carriers.CallStatus(ev.Status)
	if to.Rank() <= carriers.CallStatus(c.Status).Rank() {
		return nil
	}
	now := time.Now().UTC()
	upd := s.client.Call.UpdateOneID(c.ID).
		Where(call.StatusIn(before(to)...)).
		SetStatus(call.Status(to))
	if c.ProviderCallID == nil && ev.ProviderCallID != "" {
		upd.SetProviderCallID(ev.ProviderCallID)
	}
	if c.Dispatch != call.DispatchSent && ev.ProviderCallID != "" {
		// The carrier has the call: its callback proves it. The sweeper's events carry no
		// carrier id and leave a call that was never confirmed as it was.
		upd.SetDispatch(call.DispatchSent)
	}
	if to == carriers.StatusInProgress && c.AnsweredAt == nil {
		upd.SetAnsweredAt(now)
	}
	if to.Terminal() {
		secs := int((ev.Duration + time.Second - 1) / time.Second) // started seconds, as carriers bill
		upd.SetEndedAt(now).SetDurationSeconds(secs)
		if c.AnsweredAt == nil && secs > 0 {
			upd.SetAnsweredAt(now.Add(-time.Duration(secs) * time.Second))
		}
		if ev.Reason != "" {
			upd.SetFailureReason(clip(ev.Reason, 500))
		} else if to == carriers.StatusCompleted {
			upd.ClearFailureReason()
		}
	}
	updated, err := upd.Save(ctx)
	if ent.IsNotFound(err) {
		return nil // another callback moved it further first
	}
	if err != nil {
		return err
	}
	if to.Terminal() {
		s.settle(ctx, updated)
	}
	s.events.Publish(ctx, updated)
	return nil
}

// before lists the statuses a call can move to `to` from.
func before(to carriers.CallStatus) []call.Status {
	var out []call.Status
	for _, st := range statuses {
		if carriers.CallStatus(st).Rank() < to.Rank() {
			out = append(out, st)
		}
	}
	return out
}

// settle frees an ended call's slot and charges its minutes in Redis, then marks it settled. If
// Redis is away, or lost the account's counters, the sweeper settles it later; caps.Settle
// charges once however often it runs, and a rebuild that counted the call marks it settled.
func (s *Service) settle(ctx context.Context, c *ent.Call) {
	ctx = context.WithoutCancel(ctx)
	// After Redis lost the account's counters, the rebuild counts this call and Settle then
	// finds it settled.
	err := s.withCounters(ctx, c.AccountID, func() error {
		return s.caps.Settle(ctx, c.AccountID, c.ID, time.Duration(c.DurationSeconds)*time.Second)
	})
	if err == nil {
		err = s.client.Call.UpdateOneID(c.ID).SetCapsSettled(true).Exec(ctx)
	}
	if err != nil {
		s.log.Warn("ended call not settled yet; the sweeper retries", "call", c.ID, "err", err)
	}
}

// withCounters runs op on the account's caps counters and, when Redis has lost them, rebuilds
// them from the database and runs op once more.
func (s *Service) withCounters(ctx context.Context, account string, op func() error) error {
	err := op()
	if errors.Is(err, caps.ErrNotReady) {
		if err = s.Rebuild(ctx, account); err == nil {
			err = op()
		}
	}
	return err
}

// Rebuild sets the account's caps counters in Redis from its calls in the database, after Redis
// lost them. Calls the carrier refused do not count.
func (s *Service) Rebuild(ctx context.Context, account string) error {
	now := time.Now().UTC()
	day := now.Truncate(24 * time.Hour)
	counted := call.DispatchNEQ(call.DispatchRefused)
	var snap caps.Snapshot
	active, err := s.client.Call.Query().Where(counted, call.StatusIn(before(carriers.StatusCompleted)...)).IDs(ctx)
	if err != nil {
		return err
	}
	snap.Active = active
	recent, err := s.client.Call.Query().Where(counted, call.CreatedAtGT(now.Add(-time.Minute))).All(ctx)
	if err != nil {
		return err
	}
	for _, c := range recent {
		snap.RecentCalls = append(snap.RecentCalls, c.CreatedAt)
	}
	if snap.CallsToday, err = s.client.Call.Query().Where(counted, call.CreatedAtGTE(day)).Count(ctx); err != nil {
		return err
	}
	ended, err := s.client.Call.Query().Where(call.EndedAtGTE(day), call.DurationSecondsGT(0)).All(ctx)
	if err != nil {
		return err
	}
	for _, c := range ended {
		snap.MinutesToday += int(caps.ChargedMinutes(time.Duration(c.DurationSeconds) * time.Second))
		if !c.CapsSettled {
			snap.Settled = append(snap.Settled, c.ID) // counted here, so not charged again later
		}
	}
	rebuilt, err := s.caps.Rebuild(ctx, account, snap)
	if rebuilt {
		s.log.Info("caps counters rebuilt from the database", "account", account, "active", len(snap.Active), "callsToday", snap.CallsToday, "minutesToday", snap.MinutesToday)
	}
	return err
}

// Usage is an account's current counters.
func (s *Service) Usage(ctx context.Context) (caps.Usage, error) {
	viewer, err := provisioning.ViewerOf(ctx)
	if err != nil {
		return caps.Usage{}, err
	}
	var u caps.Usage
	err = s.withCounters(ctx, viewer.AccountID, func() (err error) {
		u, err = s.caps.Usage(ctx, viewer.AccountID)
		return err
	})
	return u, capsError(err)
}
