package graph

import (
	"context"
	"encoding/json"

	"github.com/99designs/gqlgen/graphql"

	"github.com/switchboard-dev/switchboard/apperr"
	"github.com/switchboard-dev/switchboard/ent"
	"github.com/switchboard-dev/switchboard/ids"
	"github.com/switchboard-dev/switchboard/provisioning"
)

// nodeType tells the Ent noder which table an ID lives in, from its prefix.
var nodeType = ent.WithNodeType(func(_ context.Context, id string) (string, error) {
	table, err := ids.TableOf(id)
	if err != nil {
		return "", apperr.NotFoundf("there is nothing with ID %q in this account", id)
	}
	return table, nil
})

// change carries an omittable GraphQL input field into a provisioning change.
func change[T any](o graphql.Omittable[T]) provisioning.Change[T] {
	return provisioning.Change[T]{Set: o.IsSet(), Value: o.Value()}
}

// nonNullChange is change for a field that may be omitted but not set to null.
func nonNullChange[T any](field string, o graphql.Omittable[*T]) (provisioning.Change[T], error) {
	v := o.Value()
	if !o.IsSet() {
		return provisioning.Change[T]{}, nil
	}
	if v == nil {
		return provisioning.Change[T]{}, apperr.BadInput(field, "%s cannot be null: give true or false, or leave it out to keep it as it is", field)
	}
	return provisioning.Change[T]{Set: true, Value: *v}, nil
}

// credentialsJSON re-encodes the JSON scalar for the carrier plugin, which reports the shape errors.
func credentialsJSON(v any) (json.RawMessage, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, apperr.BadInput("credentials", "credentials must be a JSON object")
	}
	return raw, nil
}
