package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"

	"github.com/switchboard-dev/switchboard/ids"
)

// CallLimits are an account's cost caps. For each dimension nil means no limit, 0 blocks it (a
// kill switch) and n caps it. An account has at most one row; without one it follows the
// operator's defaults.
type CallLimits struct{ ent.Schema }

// Mixin of the CallLimits.
func (CallLimits) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{Kind: ids.CallLimits}, TenantMixin{OnePerAccount: true}, TimeMixin{}}
}

// Fields of the CallLimits.
func (CallLimits) Fields() []ent.Field {
	capField := func(name, comment string) ent.Field {
		return field.Int(name).Optional().Nillable().Min(0).Comment(comment)
	}
	return []ent.Field{
		capField("concurrent_max", "Calls in progress at once."),
		capField("calls_per_minute", "Calls started in any 60 seconds."),
		capField("daily_calls_max", "Calls started per UTC day."),
		capField("daily_minutes_max", "Talk minutes per UTC day."),
	}
}

// Annotations of the CallLimits: the GraphQL type is written by hand in graph/limits.graphqls.
func (CallLimits) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
