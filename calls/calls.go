// Package calls places outbound calls and follows them to their end: the originateCall pipeline
// (caller ID, idempotency, cost caps, decrypt, dispatch, record), the carriers' signed status
// callbacks, the bookkeeping that keeps the Redis caps equal to what Postgres knows, and live
// call events for subscribers.
//
// Postgres holds the truth. A call row is written before the carrier is asked, so a call the
// carrier may have placed is never lost; Redis holds the caps counters and can be rebuilt from
// the rows (see package caps).
package calls

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-dev/switchboard/apperr"
	"github.com/switchboard-dev/switchboard/caps"
	"github.com/switchboard-dev/switchboard/carriers"
	"github.com/switchboard-dev/switchboard/carriers/sandbox"
	"github.com/switchboard-dev/switchboard/e164"
	"github.com/switchboard-dev/switchboard/ent"
	"github.com/switchboard-dev/switchboard/ent/call"
	"github.com/switchboard-dev/switchboard/ent/schema"
	"github.com/switchboard-dev/switchboard/ids"
	"github.com/switchboard-dev/switchboard/provisioning"
)

// Config is how calls are placed.
type Config struct {
	// PublicURL is where carriers reach this service (scheme://host[:port], no path): status
	// callbacks go to PublicURL/webhooks/{carrier}/{providerID}.
	PublicURL string
	// AnswerURL is handed to the carrier as the call's instructions URL; "{session}" in it is
	// replaced by the call's session id.
	AnswerURL string
	// CallProcessorURL, when set, takes over dispatch: calls are POSTed to its
	// /telephony/originate instead of to the carrier.
	CallProcessorURL string
	// MaxCallDuration bounds how long a call may stay unfinished without a final callback before
	// it is failed and its cap slot freed (default 4h).
	MaxCallDuration time.Duration
	// UnconfirmedTimeout is how long a call the carrier never confirmed (its request timed out
	// or got a 5xx, or the process died while dialling) waits for a status callback before the
	// sweeper fails it and frees its slot (default 15 min).
	UnconfirmedTimeout time.Duration
	// LocalCallbacks says PublicURL is only this server's own listen address, which no real
	// carrier can reach: only the sandbox (in this process) may then place calls.
	LocalCallbacks bool
	// Carrier finds the plugin for a carrier id (the server's registry, with its overrides).
	Carrier func(id string) (carriers.Carrier, bool)
}

// Service places and follows calls for the caller's account (auth.Viewer in the context).
type Service struct {
	client *ent.Client
	rdb    redis.UniversalClient
	prov   *provisioning.Service
	caps   *caps.Store
	events *Events
	cfg    Config
	log    *slog.Logger
}

// New returns a Service keeping calls in client, caps in store and live events and idempotency
// claims in rdb.
func New(client *ent.Client, prov *provisioning.Service, store *caps.Store, rdb redis.UniversalClient, cfg Config, log *slog.Logger) *Service {
	if cfg.MaxCallDuration <= 0 {
		cfg.MaxCallDuration = 4 * time.Hour
	}
	if cfg.UnconfirmedTimeout <= 0 {
		cfg.UnconfirmedTimeout = 15 * time.Minute
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	return &Service{client: client, rdb: rdb, prov: prov, caps: store, events: NewEvents(rdb, log), cfg: cfg, log: log}
}

// OriginateInput is what originateCall asks for.
type OriginateInput struct {
	From, To       string
	AgentID        *string
	IdempotencyKey *string
}

// idempotencyWindow is how long a key returns its first call.
const idempotencyWindow = 24 * time.Hour

const maxIdempotencyKeyLen = 255

// Originate places a call: caller ID → idempotency → caps → record → decrypt → dispatch →
// record the outcome. The row is written before the carrier is asked, so a call the carrier may
// have placed is never lost. It returns the call with the carrier's call id and the session id,
// or an *apperr.Error whose code says which step refused. Nothing is retried against the
// carrier: a dial that may have gone through is never repeated.
func (s *Service) Originate(ctx context.Context, in OriginateInput) (*ent.Call, error) {
	viewer, err := provisioning.ViewerOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := validate(in); err != nil {
		return nil, err
	}
	from, err := s.callerID(ctx, in)
	if err != nil {
		return nil, err
	}
	if in.IdempotencyKey != nil {
		// One request per key at a time: the others wait for its call and return it.
		first, unlock, err := s.claimKey(ctx, viewer.AccountID, *in.IdempotencyKey)
		if err != nil || first != nil {
			return first, err
		}
		defer unlock()
	}
	carrier := from.provider.Carrier
	plugin, ok := s.cfg.Carrier(carrier)
	if !ok {
		return nil, apperr.Unavailablef(nil, "this server cannot dial through %s: the carrier plugin is not enabled", carrier)
	}
	if carrier != sandbox.ID {
		switch {
		case s.cfg.AnswerURL == "":
			return nil, apperr.Unavailablef(nil, "this server cannot call through %s yet: its operator has not set SWITCHBOARD_ANSWER_URL, where the carrier fetches the call's instructions", carrier)
		case s.cfg.LocalCallbacks:
			return nil, apperr.Unavailablef(nil, "this server cannot call through %s yet: its operator has not set SWITCHBOARD_PUBLIC_URL, where the carrier reports the call's progress", carrier)
		}
	}
	callID := ids.Call.New()
	if err := s.reserve(ctx, viewer.AccountID, callID, from.limits); err != nil {
		return nil, err
	}
	// From here the call is under way: a client that hangs up does not stop it half-way.
	ctx = context.WithoutCancel(ctx)
	c, err := s.record(ctx, callID, from, in.To, in.IdempotencyKey)
	if err != nil {
		if ent.IsConstraintError(err) || ent.IsValidationError(err) {
			s.release(viewer.AccountID, callID) // refused: nothing was written
		} else {
			// The insert may have committed before the connection failed.
			go s.abandon(ctx, viewer.AccountID, callID, err)
		}
		if in.IdempotencyKey != nil && ent.IsConstraintError(err) {
			// The key's holder before this one lost its claim (it outlived keyLease) but
			// placed the call: that call is the answer.
			if first, ferr := s.byKey(ctx, *in.IdempotencyKey); ferr == nil && first != nil {
				return first, nil
			}
		}
		return nil, err
	}
	return s.dispatch(ctx, c, plugin, from.provider)
}

func validate(in OriginateInput) error {
	if err := e164.Validate(in.From); err != nil {
		return apperr.BadInput("from", "from: %s", err)
	}
	if err := e164.Validate(in.To); err != nil {
		return apperr.BadInput("to", "to: %s", err)
	}
	if err := provisioning.ValidateAgentID(in.AgentID); err != nil {
		return err
	}
	if k := in.IdempotencyKey; k != nil && (*k == "" || len(*k) > maxIdempotencyKeyLen || !utf8.ValidString(*k)) {
		return apperr.BadInput("idempotencyKey", "idempotencyKey must be 1 to %d bytes of text (a UUID is a good choice), or omitted", maxIdempotencyKeyLen)
	}
	return nil
}

// byKey returns the call placed with this idempotency key in the last 24 hours, or nil. A key
// last used longer ago is freed for the new call.
func (s *Service) byKey(ctx context.Context, key string) (*ent.Call, error) {
	c, err := s.client.Call.Query().Where(call.IdempotencyKey(key)).Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, err
	case time.Since(c.CreatedAt) < idempotencyWindow:
		return c, nil
	}
	err = s.client.Call.Update().Where(call.ID(c.ID), call.IdempotencyKey(key)).ClearIdempotencyKey().Exec(ctx)
	return nil, err
}

// keyLease bounds how long one request holds an idempotency key while it places its call;
// longer than any dispatch, short enough that a crashed holder frees the key soon.
const keyLease = 30 * time.Second

// claimKey makes the caller the one request placing the call for key, or, when another request
// already has (or is placing) it, waits for that call and returns it. unlock gives the key up.
func (s *Service) claimKey(ctx context.Context, account, key string) (first *ent.Call, unlock func(), err error) {
	lock, token := "idem:{"+account+"}:"+key, ids.Session.New()
	unlock = func() { unlockScript.Run(context.WithoutCancel(ctx), s.rdb, []string{lock}, token) }
	for {
		if first, err = s.byKey(ctx, key); err != nil || first != nil {
			return first, nil, err
		}
		got, err := s.rdb.SetNX(ctx, lock, token, keyLease).Result()
		if err != nil {
			return nil, nil, apperr.Unavailablef(err, redisDown)
		}
		if got {
			// The holder before may have finished between the lookup and the lock.
			if first, err = s.byKey(ctx, key); err != nil || first != nil {
				unlock()
				return first, nil, err
			}
			return nil, unlock, nil
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// unlockScript deletes a lock only while it still holds the token that took it: a holder that
// outlived its lease must not free the next holder's claim.
var unlockScript = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`)

// redisDown is the message of a request refused because Redis cannot be reached.
const redisDown = "the cost-cap store (Redis) is unreachable, so no call was placed; try again shortly"

// reserve takes the call's place in the caps.
func (s *Service) reserve(ctx context.Context, account, callID string, limits caps.Limits) error {
	err := s.withCounters(ctx, account, func() error { return s.caps.Reserve(ctx, account, callID, limits) })
	var exceeded *caps.ExceededError
	if err != nil && !errors.As(err, &exceeded) {
		// The script may have run before the reply was lost: give back whatever it took.
		s.release(account, callID)
	}
	return capsError(err)
}

// capsError turns the caps' refusals into the API's errors.
func capsError(err error) error {
	var exceeded *caps.ExceededError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &exceeded):
		var retryAfter any // null for a kill switch: waiting does not help, changing the limit does
		if exceeded.Limit > 0 {
			retryAfter = int((exceeded.RetryAfter + time.Second - 1) / time.Second)
		}
		return apperr.New(apperr.CapExceeded, map[string]any{
			"dimension":         string(exceeded.Dimension),
			"limit":             exceeded.Limit,
			"retryAfterSeconds": retryAfter,
		}, "%s", capMessage(exceeded))
	case errors.Is(err, caps.ErrUnavailable), errors.Is(err, caps.ErrNotReady):
		return apperr.Unavailablef(err, redisDown)
	default:
		return err
	}
}

func capMessage(e *caps.ExceededError) string {
	if e.Limit == 0 {
		return fmt.Sprintf("calls are blocked: the account's %s limit is 0 (a kill switch); raise it with updateCallLimits to call again", e.Dimension)
	}
	what := map[caps.Dimension]string{
		caps.Concurrent:     "%d calls are already in progress, the account's concurrentMax",
		caps.CallsPerMinute: "%d calls were started in the last minute, the account's callsPerMinute",
		caps.DailyCalls:     "%d calls were placed today (UTC), the account's dailyCallsMax",
		caps.DailyMinutes:   "the %d talk minutes allowed today (UTC) are used up, the account's dailyMinutesMax",
	}[e.Dimension]
	if what == "" {
		what = "the %d " + string(e.Dimension) + " limit is reached"
	}
	return fmt.Sprintf(what, e.Limit) + fmt.Sprintf("; no call was placed, retry after %s", e.RetryAfter.Round(time.Second))
}

// record writes the call row before the carrier is asked. The number and its provider were just
// read through the caller's view, so the tenancy hook need not look them up again.
func (s *Service) record(ctx context.Context, callID string, from *caller, to string, key *string) (*ent.Call, error) {
	ctx = schema.SeenByViewer(ctx, from.provider.AccountID, from.numberID, from.provider.ID)
	return s.client.Call.Create().
		SetID(callID).
		SetFromNumberID(from.numberID).
		SetProviderID(from.provider.ID).
		SetFromE164(from.e164).
		SetToE164(to).
		SetNillableAgentID(from.agentID).
		SetCarrier(from.provider.Carrier).
		SetSessionID(ids.Session.New()).
		SetNillableIdempotencyKey(key).
		Save(ctx)
}

// abandonFor bounds how long abandon waits for the database to answer; after it the call's lease
// runs out, and a row that was written is renewed and then failed by the sweeper.
const abandonFor = time.Minute

// abandon settles a call whose insert failed without saying whether it committed, once the
// database answers: a row that was written is recorded as not placed (it never was), and the
// reservation is given back either way, so the caps count neither a phantom call nor miss a real
// one.
func (s *Service) abandon(ctx context.Context, account, callID string, cause error) {
	s.log.Warn("call record not confirmed by the database; settling it once the database answers", "call", callID, "err", cause)
	ctx, cancel := context.WithTimeout(ctx, abandonFor)
	defer cancel()
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		c, err := s.client.Call.Get(ctx, callID)
		switch {
		case ent.IsNotFound(err):
			s.release(account, callID)
			return
		case err == nil:
			s.refused(ctx, c, errRecordUnconfirmed)
			return
		}
		select {
		case <-ctx.Done():
			s.log.Warn("call of an interrupted originate not settled; its lease frees the slot", "call", callID, "err", err)
			return
		case <-time.After(wait):
		}
	}
}

// errRecordUnconfirmed is why a call whose insert the database never confirmed was not placed.
// The database's own error stays in the log: the tenant reads failure reasons.
var errRecordUnconfirmed = fmt.Errorf("%w: the database did not confirm the call's record", errNotSent)

// release gives a reservation back; a failure only delays the slot until its lease ends.
func (s *Service) release(account, callID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.caps.Release(ctx, account, callID); err != nil {
		s.log.Warn("cap reservation not released; it frees when its lease ends", "call", callID, "err", err)
	}
}

// dispatch asks the carrier (or the call processor) to place the recorded call and records the
// outcome. ctx must not be cancelled by the client (see Originate).
func (s *Service) dispatch(ctx context.Context, c *ent.Call, plugin carriers.Carrier, p *ent.Provider) (*ent.Call, error) {
	req := carriers.OriginateRequest{
		From:              c.FromE164,
		To:                c.ToE164,
		AnswerURL:         s.answerURL(c.SessionID),
		StatusCallbackURL: s.callbackURL(p, c.ID),
		SessionID:         c.SessionID,
	}
	var res carriers.OriginateResult
	creds, err := s.prov.OpenCredentials(ctx, p)
	if err == nil {
		if s.cfg.CallProcessorURL != "" {
			res, err = s.callProcessor(ctx, c, p, req)
		} else {
			res, err = plugin.Originate(ctx, creds, req)
		}
	} else {
		err = fmt.Errorf("%w: %w", errNotSent, err)
	}
	var refused *carriers.Error
	switch {
	case err == nil:
		// One statement, not UpdateOne's transaction that reads the row back, and only while
		// nothing else spoke (a callback may have recorded the call first). The call is returned
		// as dispatched, though a callback may already have moved it on.
		now := time.Now().UTC()
		n, uerr := s.client.Call.Update().
			Where(call.ID(c.ID), call.DispatchEQ(call.DispatchPending), call.StatusIn(before(carriers.StatusCompleted)...)).
			SetProviderCallID(res.ProviderCallID).SetDispatch(call.DispatchSent).SetUpdatedAt(now).Save(ctx)
		switch {
		case uerr != nil:
			// The call rings, so this is no failure for the client (a retry would ring twice):
			// its status callbacks find the row by its id and complete it.
			s.log.Error("placed call not updated with the carrier's id", "call", c.ID, "err", uerr)
		case n == 0:
			if cur, err := s.client.Call.Get(ctx, c.ID); err == nil && cur.Dispatch != call.DispatchSent {
				// The sweeper gave up on it first (SWITCHBOARD_UNCONFIRMED_TIMEOUT is too short).
				s.log.Error("the carrier placed a call that was already failed as unconfirmed; its slot is no longer counted",
					"call", c.ID, "providerCallID", res.ProviderCallID, "status", cur.Status)
			}
		}
		c.ProviderCallID, c.Dispatch, c.UpdatedAt = &res.ProviderCallID, call.DispatchSent, now
		return c, nil
	case errors.As(err, &refused) || errors.Is(err, errNotSent):
		s.refused(ctx, c, err)
		if refused != nil {
			return nil, provisioning.CarrierError(refused, "refused the call")
		}
		return nil, err
	default:
		s.log.Warn("carrier outcome unknown; waiting for its status callback", "call", c.ID, "carrier", c.Carrier, "err", err)
		reason := "the carrier did not confirm the call; its status callback will settle it"
		// Only while nothing else spoke: a callback may already have shown the call exists.
		if _, uerr := s.client.Call.UpdateOne(c).Where(call.DispatchEQ(call.DispatchPending)).
			SetDispatch(call.DispatchUnknown).SetFailureReason(reason).Save(ctx); uerr != nil && !ent.IsNotFound(uerr) {
			s.log.Error("record unknown dispatch", "call", c.ID, "err", uerr)
		}
		return nil, apperr.New(apperr.CarrierError, map[string]any{"carrierCode": "OUTCOME_UNKNOWN", "callID": c.ID},
			"%s did not confirm call %s; it may still ring. Follow it with the calls query or the callUpdated subscription; do not place it again", c.Carrier, c.ID)
	}
}

// errNotSent marks a dispatch that failed before anything reached the carrier.
var errNotSent = errors.New("call not sent")

// refused records a call the carrier definitely did not place and gives its reservation back.
func (s *Service) refused(ctx context.Context, c *ent.Call, cause error) {
	reason := "not placed: " + cause.Error()
	if _, err := s.client.Call.UpdateOne(c).Where(call.StatusEQ(call.StatusQUEUED), call.DispatchEQ(call.DispatchPending)).
		SetStatus(call.StatusFAILED).SetDispatch(call.DispatchRefused).SetFailureReason(clip(reason, 500)).
		SetEndedAt(time.Now().UTC()).SetCapsSettled(true).Save(ctx); err != nil && !ent.IsNotFound(err) {
		s.log.Error("record refused call", "call", c.ID, "err", err)
	}
	s.release(c.AccountID, c.ID)
}

// answerURL is where the carrier fetches the call's instructions. The sandbox never fetches
// them, so without a configured URL it gets a placeholder on this server.
func (s *Service) answerURL(session string) string {
	tmpl := s.cfg.AnswerURL
	if tmpl == "" {
		tmpl = s.cfg.PublicURL + "/sandbox/answer/{session}"
	}
	return strings.ReplaceAll(tmpl, "{session}", url.PathEscape(session))
}

// callbackURL is where the carrier reports the call's progress. The call id in the query lets a
// callback find a call whose carrier id never came back (a dispatch that timed out).
func (s *Service) callbackURL(p *ent.Provider, callID string) string {
	return fmt.Sprintf("%s/webhooks/%s/%s?call=%s", s.cfg.PublicURL, url.PathEscape(p.Carrier), url.PathEscape(p.ID), url.QueryEscape(callID))
}

// callProcessor hands the call to the operator's call processor, which dials it.
func (s *Service) callProcessor(ctx context.Context, c *ent.Call, p *ent.Provider, req carriers.OriginateRequest) (carriers.OriginateResult, error) {
	body := map[string]any{
		"callID": c.ID, "accountID": c.AccountID, "sessionID": c.SessionID,
		"carrier": p.Carrier, "providerID": p.ID, "from": req.From, "to": req.To, "agentID": c.AgentID,
		"answerURL": req.AnswerURL, "statusCallbackURL": req.StatusCallbackURL,
	}
	api := carriers.APIClient{Carrier: "callprocessor"}
	r, err := carriers.NewJSONRequest(http.MethodPost, s.cfg.CallProcessorURL+"/telephony/originate", body)
	if err != nil {
		return carriers.OriginateResult{}, api.NotSent(err)
	}
	return api.Originate(ctx, r, "providerCallID")
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
