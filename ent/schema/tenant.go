package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"entgo.io/ent/schema/mixin"
)

// fieldAccountID is the tenant column every account-owned table carries.
const fieldAccountID = "account_id"

// TenantMixin makes an entity belong to one account. The column is never exposed through
// GraphQL; the privacy policy and hooks in tenant_policy.go fill and filter it.
type TenantMixin struct {
	mixin.Schema
	// OnePerAccount makes account_id unique: the entity is a per-account singleton.
	OnePerAccount bool
}

// Fields of the TenantMixin.
func (TenantMixin) Fields() []ent.Field {
	return []ent.Field{
		field.String(fieldAccountID).Immutable().NotEmpty().Validate(maxRunes(128)).
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Indexes of the TenantMixin.
func (m TenantMixin) Indexes() []ent.Index {
	if m.OnePerAccount {
		return []ent.Index{index.Fields(fieldAccountID).Unique()}
	}
	return []ent.Index{index.Fields(fieldAccountID)}
}
