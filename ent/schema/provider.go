package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	"github.com/switchboard-dev/switchboard/ids"
)

// Provider is one carrier credential of an account. The credentials are stored sealed (see
// package envelope) and never leave the server; only the non-secret hint is shown.
type Provider struct{ ent.Schema }

// Mixin of the Provider.
func (Provider) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{Kind: ids.Provider}, TenantMixin{}, TimeMixin{}}
}

// Fields of the Provider.
func (Provider) Fields() []ent.Field {
	return []ent.Field{
		field.String("carrier").Immutable().NotEmpty().
			Comment("The registered carrier plugin, e.g. twilio.").
			Annotations(entgql.OrderField("CARRIER")),
		field.String("label").NotEmpty().Validate(maxRunes(100)).
			Comment("A name the account chose for this credential.").
			Annotations(entgql.OrderField("LABEL")),
		field.String("hint").
			Comment("A non-secret reminder of which carrier account this is, e.g. AC…9f2c."),
		field.Bytes("sealed_credentials").Sensitive().NotEmpty().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Bytes("wrapped_key").Sensitive().NotEmpty().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("verified_at").Optional().Nillable().
			Comment("When verifyProvider last had the carrier accept these credentials."),
		field.String("key_id").NotEmpty().
			Comment("Which key-encryption key wrapped the data key; never key material.").
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Edges of the Provider.
func (Provider) Edges() []ent.Edge {
	return []ent.Edge{
		// The database refuses to delete a provider that numbers still use.
		edge.To("numbers", PhoneNumber.Type).
			Annotations(entsql.OnDelete(entsql.Restrict), entgql.RelayConnection()),
		callsEdge(),
	}
}

// Annotations of the Provider.
func (Provider) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection(), entgql.QueryField()}
}
