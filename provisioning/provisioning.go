// Package provisioning is the management side of an account: carrier credentials (providers),
// phone numbers and call limits. It validates input, seals credentials and writes through the
// tenant-scoped Ent client, turning storage failures into errors the caller can act on
// (package apperr). Reads that need no rule beyond tenancy go to Ent directly.
package provisioning

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"entgo.io/ent/dialect/sql/sqlgraph"

	"github.com/switchboard-dev/switchboard/apperr"
	"github.com/switchboard-dev/switchboard/auth"
	"github.com/switchboard-dev/switchboard/carriers"
	"github.com/switchboard-dev/switchboard/e164"
	"github.com/switchboard-dev/switchboard/ent"
	"github.com/switchboard-dev/switchboard/ent/phonenumber"
	"github.com/switchboard-dev/switchboard/envelope"
	"github.com/switchboard-dev/switchboard/ids"
)

// Service runs the management mutations of the caller's account (auth.Viewer in the context).
type Service struct {
	client   *ent.Client
	sealer   *envelope.Sealer
	carriers *carriers.Set
	defaults Limits
}

// New returns a Service writing through client, sealing credentials with sealer, accepting the
// carriers of set, and giving accounts that never set their limits the operator's defaults.
func New(client *ent.Client, sealer *envelope.Sealer, set *carriers.Set, defaults Limits) *Service {
	return &Service{client: client, sealer: sealer, carriers: set, defaults: defaults}
}

// Change is an optional update of one field: when Set is false the field stays as it is.
type Change[T any] struct {
	Set   bool
	Value T
}

// maxLabelLen is the longest provider label, in characters (the Ent schema enforces the same).
const maxLabelLen = 100

// NewProvider is the input of CreateProvider.
type NewProvider struct {
	Carrier     string
	Label       string
	Credentials json.RawMessage
}

// CreateProvider checks the credentials with the carrier's plugin, seals them and stores the
// provider. Nothing is written when any step fails.
func (s *Service) CreateProvider(ctx context.Context, in NewProvider) (*ent.Provider, error) {
	viewer, err := ViewerOf(ctx)
	if err != nil {
		return nil, err
	}
	plugin, ok := s.carriers.Lookup(in.Carrier)
	if !ok {
		return nil, apperr.BadInput("carrier", "unknown carrier %q: use one of %s (the carriers query lists them with their credential fields)",
			clip(in.Carrier), strings.Join(s.carriers.IDs(), ", "))
	}
	label := strings.TrimSpace(in.Label)
	if label == "" || utf8.RuneCountInString(label) > maxLabelLen || hasControl(label) {
		return nil, apperr.BadInput("label", "label must be 1 to %d characters, without control characters", maxLabelLen)
	}
	creds, err := plugin.ParseCredentials(in.Credentials)
	if err != nil {
		return nil, credentialsError(err)
	}

	id := ids.Provider.New()
	plaintext, err := json.Marshal(creds)
	if err != nil {
		return nil, fmt.Errorf("encode %s credentials: %w", in.Carrier, err)
	}
	sealed, err := s.sealer.Seal(ctx, plaintext, credentialsIdentity(viewer.AccountID, id))
	clear(plaintext)
	if err != nil {
		return nil, sealError(err)
	}
	return s.client.Provider.Create().
		SetID(id).
		SetCarrier(in.Carrier).
		SetLabel(label).
		SetHint(creds.Hint()).
		SetSealedCredentials(sealed.Ciphertext).
		SetWrappedKey(sealed.WrappedKey).
		SetKeyID(sealed.KeyID).
		Save(ctx)
}

// OpenCredentials unseals a provider's credentials and parses them with its carrier's plugin.
// The result is a secret: never log or return it.
func (s *Service) OpenCredentials(ctx context.Context, p *ent.Provider) (carriers.Credentials, error) {
	plugin, ok := s.carriers.Lookup(p.Carrier)
	if !ok {
		return nil, fmt.Errorf("provider %s uses carrier %q, which this server does not have", p.ID, p.Carrier)
	}
	sealed := envelope.Sealed{Ciphertext: p.SealedCredentials, WrappedKey: p.WrappedKey, KeyID: p.KeyID}
	plaintext, err := s.sealer.Open(ctx, sealed, credentialsIdentity(p.AccountID, p.ID))
	if err != nil {
		return nil, sealError(err)
	}
	defer clear(plaintext)
	return plugin.ParseCredentials(plaintext)
}

// credentialsIdentity binds sealed credentials to their row: a blob copied to another provider or
// account does not open.
func credentialsIdentity(accountID, providerID string) []byte {
	return envelope.Identity("provider-credentials", accountID, providerID)
}

// VerifyProvider asks the carrier whether the provider's credentials work, and records when it
// last said yes. A refusal is CARRIER_ERROR with the carrier's code; a carrier that cannot be
// reached is UNAVAILABLE.
func (s *Service) VerifyProvider(ctx context.Context, id string) (*ent.Provider, error) {
	p, err := s.client.Provider.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, notFound("provider", id)
	} else if err != nil {
		return nil, err
	}
	plugin, _ := s.carriers.Lookup(p.Carrier)
	verifier, ok := plugin.(carriers.Verifier)
	if !ok {
		return nil, apperr.BadInput("id", "%s offers no credentials check", p.Carrier)
	}
	creds, err := s.OpenCredentials(ctx, p)
	if err != nil {
		return nil, err
	}
	var refused *carriers.Error
	switch err := verifier.VerifyCredentials(ctx, creds); {
	case errors.As(err, &refused):
		return nil, CarrierError(refused, "refused the credentials")
	case err != nil:
		return nil, apperr.Unavailablef(err, "%s did not answer whether the credentials work (it may be down or rate-limiting); try again later", p.Carrier)
	}
	return s.client.Provider.UpdateOne(p).SetVerifiedAt(time.Now().UTC()).Save(ctx)
}

// CarrierError is the API's CARRIER_ERROR for a carrier's refusal: what the carrier did, its own
// code and its message.
func CarrierError(e *carriers.Error, what string) *apperr.Error {
	msg := e.Message
	if msg == "" {
		msg = "no message"
	}
	return apperr.New(apperr.CarrierError, map[string]any{"carrier": e.Carrier, "carrierCode": e.Code, "httpStatus": e.HTTPStatus},
		"%s %s (%s): %s", e.Carrier, what, e.Code, msg)
}

// DeleteProvider deletes a provider. The database refuses while phone numbers reference it, and
// that refusal becomes a CONFLICT naming how many numbers hold it.
func (s *Service) DeleteProvider(ctx context.Context, id string) error {
	err := s.client.Provider.DeleteOneID(id).Exec(ctx)
	switch {
	case err == nil:
		return nil
	case ent.IsNotFound(err):
		return notFound("provider", id)
	case sqlgraph.IsForeignKeyConstraintError(err):
		n, cerr := s.client.PhoneNumber.Query().Where(phonenumber.ProviderID(id)).Count(ctx)
		if cerr != nil {
			return cerr
		}
		return apperr.Conflictf("provider %s is used by %d phone number(s): delete those numbers first", id, n)
	default:
		return err
	}
}

// NewPhoneNumber is the input of CreatePhoneNumber.
type NewPhoneNumber struct {
	E164            string
	ProviderID      string
	AgentID         *string
	InboundEnabled  bool
	OutboundEnabled bool
}

// CreatePhoneNumber registers a number against one of the account's providers.
func (s *Service) CreatePhoneNumber(ctx context.Context, in NewPhoneNumber) (*ent.PhoneNumber, error) {
	if err := e164.Validate(in.E164); err != nil {
		return nil, apperr.BadInput("e164", "%s", err.Error())
	}
	if err := ValidateAgentID(in.AgentID); err != nil {
		return nil, err
	}
	n, err := s.client.PhoneNumber.Create().
		SetE164(in.E164).
		SetProviderID(in.ProviderID).
		SetNillableAgentID(in.AgentID).
		SetInboundEnabled(in.InboundEnabled).
		SetOutboundEnabled(in.OutboundEnabled).
		Save(ctx)
	switch {
	case err == nil:
		return n, nil
	case sqlgraph.IsUniqueConstraintError(err):
		return nil, apperr.Conflictf("%s is already registered: a number can be registered once across the service", in.E164)
	case sqlgraph.IsForeignKeyConstraintError(err):
		// The provider was deleted between the visibility check and the insert.
		return nil, notFound("provider", in.ProviderID)
	default:
		return nil, err
	}
}

// NumberChanges is the input of UpdatePhoneNumber. An AgentID change to nil unpins the number.
type NumberChanges struct {
	AgentID         Change[*string]
	InboundEnabled  Change[bool]
	OutboundEnabled Change[bool]
}

// UpdatePhoneNumber pins, unpins or toggles a number; unset changes leave fields as they are.
func (s *Service) UpdatePhoneNumber(ctx context.Context, id string, in NumberChanges) (*ent.PhoneNumber, error) {
	upd := s.client.PhoneNumber.UpdateOneID(id)
	if in.AgentID.Set {
		if err := ValidateAgentID(in.AgentID.Value); err != nil {
			return nil, err
		}
		if in.AgentID.Value == nil {
			upd.ClearAgentID()
		} else {
			upd.SetAgentID(*in.AgentID.Value)
		}
	}
	if in.InboundEnabled.Set {
		upd.SetInboundEnabled(in.InboundEnabled.Value)
	}
	if in.OutboundEnabled.Set {
		upd.SetOutboundEnabled(in.OutboundEnabled.Value)
	}
	n, err := upd.Save(ctx)
	if ent.IsNotFound(err) {
		return nil, notFound("phone number", id)
	}
	return n, err
}

// DeletePhoneNumber deletes a number of the account.
func (s *Service) DeletePhoneNumber(ctx context.Context, id string) error {
	err := s.client.PhoneNumber.DeleteOneID(id).Exec(ctx)
	if ent.IsNotFound(err) {
		return notFound("phone number", id)
	}
	return err
}

const maxAgentIDLen = 128

// ValidateAgentID checks an optional agent id: 1 to 128 characters, no surrounding spaces or
// control characters. Its error is BAD_USER_INPUT on agentID.
func ValidateAgentID(agentID *string) error {
	if agentID == nil {
		return nil
	}
	a := *agentID
	if strings.TrimSpace(a) == "" || utf8.RuneCountInString(a) > maxAgentIDLen || strings.TrimSpace(a) != a || hasControl(a) {
		return apperr.BadInput("agentID", "agentID must be 1 to %d characters, without surrounding spaces or control characters; use null to unpin", maxAgentIDLen)
	}
	return nil
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl) || !utf8.ValidString(s)
}

// ViewerOf returns the caller, or UNAUTHENTICATED when the request carries none.
func ViewerOf(ctx context.Context) (auth.Viewer, error) {
	v, ok := auth.FromContext(ctx)
	if !ok {
		return v, apperr.Unauthenticatedf("sign in with a bearer token")
	}
	return v, nil
}

func notFound(what, id string) error {
	return apperr.NotFoundf("there is no %s with ID %q in this account", what, clip(id))
}

// credentialsError turns a plugin's field error into BAD_USER_INPUT on credentials.<key>.
func credentialsError(err error) error {
	var fe *carriers.FieldError
	if !errors.As(err, &fe) {
		return apperr.BadInput("credentials", "the credentials were not accepted")
	}
	field := "credentials"
	if fe.Field != "" {
		field += "." + fe.Field
	}
	return apperr.BadInput(field, "%s", fe.Message)
}

func sealError(err error) error {
	if errors.Is(err, envelope.ErrKeeperUnavailable) {
		return apperr.Unavailablef(err, "the key service that protects credentials is unreachable; nothing was saved, try again shortly")
	}
	return err
}

// clip bounds user-supplied text echoed in messages.
func clip(s string) string {
	const max = 64
	if utf8.RuneCountInString(s) > max {
		return string([]rune(s)[:max]) + "…"
	}
	return s
}
