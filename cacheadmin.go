package apigate

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"

	"github.com/apigate/caddy-apigate/cache"
	"github.com/apigate/caddy-apigate/internal/gateway"
)

// purgeAnswer is the admin API's answer to DELETE /api_gateway/cache.
type purgeAnswer struct {
	// Purged is "all" or the path whose responses were made stale.
	Purged string `json:"purged"`
	// Stores is the number of api_cache stores purged.
	Stores int `json:"stores"`
}

// handleCache serves DELETE /api_gateway/cache: purge every stored response,
// or with ?path=/x only those of that path (any host, query and consumer).
func (a *adminAPI) handleCache(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Path != "/api_gateway/cache" {
		return apiErr(http.StatusNotFound, "not found")
	}
	if r.Method != http.MethodDelete {
		return methodNotAllowed(w, "DELETE")
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return apiErr(http.StatusBadRequest, "invalid query string")
	}
	for k := range q {
		if k != "path" {
			return apiErr(http.StatusBadRequest, fmt.Sprintf("unknown parameter %q: the only one is path", k))
		}
	}
	path := ""
	if vs, ok := q["path"]; ok {
		if len(vs) != 1 {
			return apiErr(http.StatusBadRequest, "give path once")
		}
		path = vs[0]
		if !cache.ValidPurgePath(path) {
			return apiErr(http.StatusBadRequest, "path must start with / and hold no control characters (at most 8 KiB)")
		}
	}
	ans := purgeAnswer{Purged: cmp.Or(path, "all"), Stores: cache.Purge(path)}
	return gateway.WriteJSON(w, http.StatusOK, ans)
}
