package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/switchboard-dev/switchboard/ids"
)

// Call is an outbound call placed with originateCall, followed to its end by the carrier's
// status callbacks. Its status only moves forward and a terminal status is final.
type Call struct{ ent.Schema }

// Mixin of the Call.
func (Call) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{Kind: ids.Call}, TenantMixin{}, TimeMixin{}}
}

// Fields of the Call.
func (Call) Fields() []ent.Field {
	return []ent.Field{
		field.String("from_number_id").Optional().Nillable().
			Comment("The caller-ID number; null once that number has been deleted."),
		field.String("provider_id").Optional().Nillable().
			Comment("The provider the call was placed through; null once it has been deleted."),
		field.String("from_e164").Immutable().NotEmpty().MaxLen(16).
			Comment("The caller ID, as it was when the call was placed."),
		field.String("to_e164").Immutable().NotEmpty().MaxLen(16).
			Comment("The number called."),
		field.String("agent_id").Optional().Nillable().Immutable().
			Comment("The agent the call is for."),
		field.String("carrier").Immutable().NotEmpty().
			Comment("The carrier plugin that placed the call, e.g. twilio."),
		field.String("provider_call_id").Optional().Nillable().
			Comment("The carrier's id of the call (Twilio's CallSid, Plivo's and Vobiz's request_uuid); null until the carrier has accepted it."),
		field.String("session_id").Immutable().Unique().NotEmpty().
			Comment("Switchboard's stable id of the call's voice session, handed to the answer URL."),
		field.Enum("status").
			Values("QUEUED", "RINGING", "IN_PROGRESS", "COMPLETED", "BUSY", "NO_ANSWER", "FAILED", "CANCELED").
			Default("QUEUED").
			Comment("Moves forward only; COMPLETED, BUSY, NO_ANSWER, FAILED and CANCELED are final.").
			Annotations(entgql.OrderField("STATUS")),
		field.String("failure_reason").Optional().Nillable().
			Comment("Why the call failed or ended early, from the carrier when it says."),
		field.Time("answered_at").Optional().Nillable(),
		field.Time("ended_at").Optional().Nillable(),
		field.Int("duration_seconds").Default(0).NonNegative().
			Comment("Talk time in seconds, once the call has ended."),
		field.String("idempotency_key").Optional().Nillable().
			Comment("The key the call was placed with: a repeat within 24 hours returns this call; cleared when the key is reused later.").
			Annotations(entgql.Skip(entgql.SkipMutationUpdateInput)),
		field.Enum("dispatch").Values("pending", "sent", "refused", "unknown").Default("pending").
			Comment("Whether the carrier took the call: refused calls do not count against the caps; unknown ones wait for a callback.").
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Bool("caps_settled").Default(false).
			Comment("Whether the ended call's slot and minutes have been settled in Redis.").
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Edges of the Call.
func (Call) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("from_number", PhoneNumber.Type).Ref("calls").Field("from_number_id").Unique(),
		edge.From("provider", Provider.Type).Ref("calls").Field("provider_id").Unique(),
	}
}

// Indexes of the Call.
func (Call) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields(fieldAccountID, "idempotency_key").Unique(),
		index.Fields("provider_id", "provider_call_id"),
		index.Fields(fieldAccountID, "created_at"),
		index.Fields("status", "caps_settled"),
	}
}

// Annotations of the Call.
func (Call) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection(), entgql.QueryField()}
}

// callsEdge is the edge from a number or provider to its calls: deleting either keeps the calls.
func callsEdge() ent.Edge {
	return edge.To("calls", Call.Type).
		Annotations(entsql.OnDelete(entsql.SetNull), entgql.RelayConnection())
}
