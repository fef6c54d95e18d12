package envelope

// Key-encryption keeper drivers compiled in. Only the local driver
// (base64key:// and the embedded default master.key) is built in: the KMS
// drivers pull in large SDKs. Measured with `go build -a ./envelope/ <driver>`
// (2 cores, CPU user+sys): local only ~91 s and 22 modules; +awskms ~+29 s and
// +16 modules (aws-sdk-go-v2, smithy-go); +hashivault ~+11 s and +16 modules
// (hashicorp/vault/api and friends; a separate module, gocloud.dev/secrets/hashivault,
// whose latest release lags gocloud.dev); both ~+42 s and 54 modules in total.
//
// To use a KMS, add its one blank import below and run `go mod tidy`:
//
//	_ "gocloud.dev/secrets/awskms"        // awskms://<key id> or awskms:///<ARN>, ?region=...
//	_ "gocloud.dev/secrets/gcpkms"        // gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K
//	_ "gocloud.dev/secrets/azurekeyvault" // azurekeyvault://<vault>.vault.azure.net/keys/<key>
//	_ "gocloud.dev/secrets/hashivault"    // hashivault://<transit key name> (go get gocloud.dev/secrets/hashivault)
import (
	_ "gocloud.dev/secrets/localsecrets" // base64key://
)
