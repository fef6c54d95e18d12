package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/switchboard-dev/switchboard/ids"
)

// PhoneNumber is an E.164 number an account owns at a carrier, optionally pinned to an agent.
type PhoneNumber struct{ ent.Schema }

// Mixin of the PhoneNumber.
func (PhoneNumber) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{Kind: ids.PhoneNumber}, TenantMixin{}, TimeMixin{}}
}

// Fields of the PhoneNumber.
func (PhoneNumber) Fields() []ent.Field {
	return []ent.Field{
		// Unique across the service: a real number belongs to one carrier account.
		field.String("e164").Unique().Immutable().NotEmpty().MaxLen(16).
			Annotations(entgql.OrderField("E164")),
		field.String("provider_id").Immutable().NotEmpty(),
		field.String("agent_id").Optional().Nillable().Validate(maxRunes(128)).
			Comment("The agent this number is pinned to; null when unpinned.").
			Annotations(entgql.OrderField("AGENT_ID")),
		field.Bool("inbound_enabled").Default(true),
		field.Bool("outbound_enabled").Default(true),
	}
}

// Edges of the PhoneNumber.
func (PhoneNumber) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("provider", Provider.Type).Ref("numbers").
			Field("provider_id").Unique().Required().Immutable(),
		callsEdge(),
	}
}

// Indexes of the PhoneNumber.
func (PhoneNumber) Indexes() []ent.Index {
	return []ent.Index{index.Fields(fieldAccountID, "agent_id")}
}

// Annotations of the PhoneNumber.
func (PhoneNumber) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection(), entgql.QueryField()}
}
