package provisioning

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"entgo.io/ent/dialect/sql/sqlgraph"

	"github.com/switchboard-dev/switchboard/apperr"
	"github.com/switchboard-dev/switchboard/caps"
	"github.com/switchboard-dev/switchboard/ent"
	"github.com/switchboard-dev/switchboard/ent/calllimits"
)

// Limits are cost caps. For each dimension nil means no limit, 0 blocks it and n caps it. They
// are the caps package's own type, so what is stored is what Redis enforces.
type Limits = caps.Limits

// LimitChanges is the input of UpdateCallLimits: an unset Change leaves the dimension as it is;
// a nil Value removes its limit.
type LimitChanges struct {
	ConcurrentMax   Change[*int]
	CallsPerMinute  Change[*int]
	DailyCallsMax   Change[*int]
	DailyMinutesMax Change[*int]
}

// limitColumn ties one dimension's GraphQL name and column to its value in each struct, so the
// four dimensions are handled by one loop.
type limitColumn struct {
	field, column string
	of            func(*Limits) **int
	change        func(*LimitChanges) Change[*int]
}

var limitColumns = []limitColumn{
	{"concurrentMax", calllimits.FieldConcurrentMax, func(l *Limits) **int { return &l.ConcurrentMax }, func(c *LimitChanges) Change[*int] { return c.ConcurrentMax }},
	{"callsPerMinute", calllimits.FieldCallsPerMinute, func(l *Limits) **int { return &l.CallsPerMinute }, func(c *LimitChanges) Change[*int] { return c.CallsPerMinute }},
	{"dailyCallsMax", calllimits.FieldDailyCallsMax, func(l *Limits) **int { return &l.DailyCallsMax }, func(c *LimitChanges) Change[*int] { return c.DailyCallsMax }},
	{"dailyMinutesMax", calllimits.FieldDailyMinutesMax, func(l *Limits) **int { return &l.DailyMinutesMax }, func(c *LimitChanges) Change[*int] { return c.DailyMinutesMax }},
}

// CallLimits returns the account's limits, or the operator's defaults when the account has never
// changed them.
func (s *Service) CallLimits(ctx context.Context) (*ent.CallLimits, error) {
	row, err := s.client.CallLimits.Query().Only(ctx)
	if ent.IsNotFound(err) {
		return &ent.CallLimits{
			ConcurrentMax:   s.defaults.ConcurrentMax,
			CallsPerMinute:  s.defaults.CallsPerMinute,
			DailyCallsMax:   s.defaults.DailyCallsMax,
			DailyMinutesMax: s.defaults.DailyMinutesMax,
		}, nil
	}
	return row, err
}

// UpdateCallLimits changes the dimensions that are set and leaves the others. Only the changed
// columns are written, so two concurrent updates of different dimensions both take effect.
func (s *Service) UpdateCallLimits(ctx context.Context, in LimitChanges) (*ent.CallLimits, error) {
	for _, c := range limitColumns {
		if ch := c.change(&in); ch.Set && ch.Value != nil && *ch.Value < 0 {
			return nil, apperr.BadInput(c.field, "%s must be null (no limit), 0 (blocked) or a positive whole number", c.field)
		}
	}
	for attempt := 0; ; attempt++ {
		upd := s.client.CallLimits.Update()
		for _, c := range limitColumns {
			if err := applyChange(upd.Mutation(), c.column, c.change(&in)); err != nil {
				return nil, err
			}
		}
		n, err := upd.Save(ctx)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			return s.client.CallLimits.Query().Only(ctx)
		}
		// First change for this account: its row starts from the defaults.
		create := s.client.CallLimits.Create()
		start := s.defaults
		for _, c := range limitColumns {
			if ch := c.change(&in); ch.Set {
				*c.of(&start) = ch.Value
			}
			if v := *c.of(&start); v != nil {
				if err := create.Mutation().SetField(c.column, *v); err != nil {
					return nil, err
				}
			}
		}
		row, err := create.Save(ctx)
		if sqlgraph.IsUniqueConstraintError(err) && attempt == 0 {
			continue // another request created the row first: update it instead
		}
		return row, err
	}
}

func applyChange(m *ent.CallLimitsMutation, column string, ch Change[*int]) error {
	switch {
	case !ch.Set:
		return nil
	case ch.Value == nil:
		return m.ClearField(column)
	default:
		return m.SetField(column, *ch.Value)
	}
}

// ParseLimit reads one default limit from configuration: "unlimited" (or "none") for no limit,
// otherwise a whole number >= 0.
func ParseLimit(s string) (*int, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "unlimited", "none":
		return nil, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return nil, fmt.Errorf("want a whole number >= 0 (0 blocks) or \"unlimited\", got %q", s)
	}
	return &n, nil
}

// DefaultLimits are the operator's limits of accounts that never set theirs.
func (s *Service) DefaultLimits() Limits { return s.defaults }
