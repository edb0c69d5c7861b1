package gateway

import (
	"net/http/httptest"
	"testing"
)

func TestWriteJSON(t *testing.T) {
	w := httptest.NewRecorder()
	if err := WriteJSON(w, 201, map[string]any{"id": "x"}); err != nil {
		t.Fatal(err)
	}
	h := w.Header()
	if w.Code != 201 || h.Get("Content-Type") != "application/json" || h.Get("Cache-Control") != "no-store" || w.Body.String() != "{\n\t\"id\": \"x\"\n}\n" {
		t.Fatalf("%d %v %q", w.Code, h, w.Body)
	}
}
