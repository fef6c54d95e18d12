package main

// Generated code is committed; `go generate ./...` must leave no diff. Ent runs first because
// entgql writes graph/ent.graphqls, which gqlgen reads.

//go:generate go run ./ent/entc.go
//go:generate go run github.com/99designs/gqlgen generate
