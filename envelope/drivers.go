package envelope

// Key-encryption keeper drivers compiled into the server. Only the local
// driver (base64key:// and the embedded default master.key) is built in by
// default: the cloud drivers pull in large SDKs (see the package's build-time
// notes in the README of this decision: envelope/drivers.go).
//
// To use a KMS, add ONE blank import here (and run `go mod tidy`):
//
//	_ "gocloud.dev/secrets/awskms"        // awskms://<key id or alias>?region=...
//	_ "gocloud.dev/secrets/gcpkms"        // gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K
//	_ "gocloud.dev/secrets/azurekeyvault" // azurekeyvault://<vault>.vault.azure.net/keys/<key>
//	_ "gocloud.dev/secrets/hashivault"    // hashivault://<key> (separate module gocloud.dev/secrets/hashivault)
import (
	_ "gocloud.dev/secrets/localsecrets" // base64key://
)
