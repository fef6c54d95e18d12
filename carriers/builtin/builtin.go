// Package builtin registers the carrier plugins that ship with Switchboard. Import it for its
// side effects; adding a carrier to the server is one more blank import here.
//
// carriers/sandbox is deliberately not here: it simulates calls, and the server registers it
// only where that is wanted.
package builtin

import (
	_ "github.com/switchboard-dev/switchboard/carriers/plivo"  // registers "plivo"
	_ "github.com/switchboard-dev/switchboard/carriers/twilio" // registers "twilio"
	_ "github.com/switchboard-dev/switchboard/carriers/vobiz"  // registers "vobiz"
)
