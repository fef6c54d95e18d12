package calls

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-dev/switchboard/apperr"
	"github.com/switchboard-dev/switchboard/ent"
	"github.com/switchboard-dev/switchboard/provisioning"
)

// Events fans call changes out to subscribers through Redis pub/sub, so a subscriber on one
// replica sees a call that another replica moved. Each message carries the call as it was right
// after the change, so a subscriber sees every status in order even when they follow quickly.
type Events struct {
	rdb redis.UniversalClient
	log *slog.Logger
}

// NewEvents returns Events over rdb.
func NewEvents(rdb redis.UniversalClient, log *slog.Logger) *Events {
	return &Events{rdb: rdb, log: log}
}

// channel is the account's pub/sub channel; the hash tag keeps it with the account's keys.
func channel(account string) string { return "calls:{" + account + "}" }

// Publish announces a call's new state. Delivery is best effort: a lost message leaves
// subscribers one state behind, never the stored call.
func (e *Events) Publish(ctx context.Context, c *ent.Call) {
	msg, err := json.Marshal(c)
	if err == nil {
		err = e.rdb.Publish(context.WithoutCancel(ctx), channel(c.AccountID), msg).Err()
	}
	if err != nil {
		e.log.Warn("call event not published", "call", c.ID, "err", err)
	}
}

// Subscribe returns the account's call changes until ctx ends. Each value is the call's state
// right after one change (its edges are not loaded).
func (e *Events) Subscribe(ctx context.Context, account string) (<-chan *ent.Call, error) {
	sub := e.rdb.Subscribe(ctx, channel(account))
	if _, err := sub.Receive(ctx); err != nil { // the subscription confirmation
		sub.Close()
		return nil, err
	}
	out := make(chan *ent.Call)
	go func() {
		defer close(out)
		defer sub.Close()
		msgs := sub.Channel()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-msgs:
				if !ok {
					return
				}
				var c ent.Call
				if err := json.Unmarshal([]byte(m.Payload), &c); err != nil {
					e.log.Warn("malformed call event", "err", err)
					continue
				}
				select {
				case out <- &c:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// Follow streams the changes of the caller's call id, or of all the account's calls when id is
// nil, until ctx ends. Each value is the call as it was right after one change.
func (s *Service) Follow(ctx context.Context, id *string) (<-chan *ent.Call, error) {
	viewer, err := provisioning.ViewerOf(ctx)
	if err != nil {
		return nil, err
	}
	if id != nil {
		if _, err := s.client.Call.Get(ctx, *id); ent.IsNotFound(err) {
			return nil, apperr.NotFoundf("there is no call with ID %q in this account", clip(*id, 100))
		} else if err != nil {
			return nil, err
		}
	}
	changes, err := s.events.Subscribe(ctx, viewer.AccountID)
	if err != nil {
		return nil, apperr.Unavailablef(err, "live call updates are unavailable (Redis unreachable); try again shortly")
	}
	out := make(chan *ent.Call)
	go func() {
		defer close(out)
		for snap := range changes {
			if id != nil && snap.ID != *id {
				continue
			}
			// The stored row gives the call its edges; the message gives the state of this change.
			c, err := s.client.Call.Get(ctx, snap.ID)
			if err != nil {
				continue
			}
			c.Status, c.ProviderCallID, c.FailureReason = snap.Status, snap.ProviderCallID, snap.FailureReason
			c.AnsweredAt, c.EndedAt, c.DurationSeconds, c.UpdatedAt = snap.AnsweredAt, snap.EndedAt, snap.DurationSeconds, snap.UpdatedAt
			select {
			case out <- c:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
