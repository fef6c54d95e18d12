// Package integration holds Switchboard's end-to-end tests: real servers, booted as server.go
// boots them, on Postgres and Redis containers started by testcontainers-go (see
// internal/testenv), driven over HTTP through the typed GraphQL client in integration/client.
//
//	go test ./integration/                      # needs Docker
//	integration/images/build.sh                 # local images, for machines without a registry
package integration
