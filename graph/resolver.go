// Package graph is the GraphQL layer: the schema (*.graphqls), thin resolvers that hand work to
// packages provisioning and calls or to the tenant-scoped Ent client, and the mapping of errors to the
// contract's extensions.code.
package graph

import (
	"github.com/switchboard-dev/switchboard/calls"
	"github.com/switchboard-dev/switchboard/carriers"
	"github.com/switchboard-dev/switchboard/ent"
	"github.com/switchboard-dev/switchboard/provisioning"
)

// Resolver is the root resolver.
type Resolver struct {
	Client       *ent.Client
	Provisioning *provisioning.Service
	CallService  *calls.Service
	CarrierSet   *carriers.Set
}
