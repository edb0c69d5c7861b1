package apigate

import "github.com/apigate/caddy-apigate/keystore"

// validScopeToken is the scope check of the root's parsers that have not
// moved to their capability folders yet (client_cert, the rate limit tiers);
// it left with api_authorize. Delete it with its last caller.
func validScopeToken(s string) bool { return keystore.ValidScope(s) }
