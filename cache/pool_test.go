package cache

import (
	"strings"
	"testing"
)

func TestValidPurgePath(t *testing.T) {
	for p, want := range map[string]bool{
		"/": true, "/orders/42": true, "/a b": true, "": false, "orders": false,
		"/x\n": false, "/x\x7f": false, "/" + strings.Repeat("a", MaxPurgePath-1): true,
		"/" + strings.Repeat("a", MaxPurgePath): false,
	} {
		if got := ValidPurgePath(p); got != want {
			t.Errorf("%.20q: %v, want %v", p, got, want)
		}
	}
}
