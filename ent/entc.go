//go:build ignore

// entc.go generates the Ent client and, through entgql, the GraphQL schema of the Ent types
// (graph/ent.graphqls) plus their Relay connections, where-inputs and ordering.
package main

import (
	"log"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
)

func main() {
	ext, err := entgql.NewExtension(
		entgql.WithSchemaGenerator(),
		entgql.WithSchemaPath("./graph/ent.graphqls"),
		entgql.WithConfigPath("./gqlgen.yml"),
		entgql.WithWhereInputs(true),
	)
	if err != nil {
		log.Fatalf("entgql: %v", err)
	}
	err = entc.Generate("./ent/schema", &gen.Config{
		Target:   "./ent",
		Package:  "github.com/switchboard-dev/switchboard/ent",
		Features: []gen.Feature{gen.FeaturePrivacy, gen.FeatureEntQL, gen.FeatureIntercept, gen.FeatureLock, gen.FeatureModifier},
	}, entc.Extensions(ext))
	if err != nil {
		log.Fatalf("entc: %v", err)
	}
}
