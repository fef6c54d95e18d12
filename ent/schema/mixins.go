package schema

import (
	"fmt"
	"time"
	"unicode/utf8"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"

	"github.com/switchboard-dev/switchboard/ids"
)

// IDMixin gives an entity a prefixed, time-sortable string ID (see package ids).
type IDMixin struct {
	mixin.Schema
	Kind ids.Kind
}

// Fields of the IDMixin.
func (m IDMixin) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").Immutable().NotEmpty().DefaultFunc(m.Kind.New),
	}
}

// TimeMixin records when a row was created and last changed.
type TimeMixin struct{ mixin.Schema }

// Fields of the TimeMixin.
func (TimeMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").Immutable().Default(utcNow).
			Annotations(entgql.OrderField("CREATED_AT")),
		field.Time("updated_at").Default(utcNow).UpdateDefault(utcNow).
			Annotations(entgql.OrderField("UPDATED_AT")),
	}
}

// maxRunes validates a string's length in characters, as the API describes limits (Ent's MaxLen
// counts bytes).
// utcNow is the time stamps' clock. Times are stored in UTC so that SQLite, which keeps them as
// text, compares them correctly whatever the machine's time zone.
func utcNow() time.Time { return time.Now().UTC() }

func maxRunes(n int) func(string) error {
	return func(s string) error {
		if utf8.RuneCountInString(s) > n {
			return fmt.Errorf("longer than %d characters", n)
		}
		return nil
	}
}
