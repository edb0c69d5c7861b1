package apigate

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// assertExampleJSON checks that the JSON file beside an example Caddyfile is what
// the Caddyfile adapts to, so users reading either see the same config.
func assertExampleJSON(t *testing.T, caddyfilePath, jsonPath string) {
	t.Helper()
	src, err := os.ReadFile(caddyfilePath)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := adaptFile(src, caddyfilePath)
	if err != nil {
		t.Fatalf("%s: %v", caddyfilePath, err)
	}
	want, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatalf("%v (regenerate with: go run ./cmd/caddy adapt --config %s --pretty > %s)", err, caddyfilePath, jsonPath)
	}
	var a, b any
	if err := json.Unmarshal(out, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &b); err != nil {
		t.Fatalf("%s: %v", jsonPath, err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Fatalf("%s is out of date with %s (regenerate with: go run ./cmd/caddy adapt --config %s --pretty > %s)", jsonPath, caddyfilePath, caddyfilePath, jsonPath)
	}
}

// TestExamplesAdapt keeps every example's JSON twin in step with its Caddyfile.
func TestExamplesAdapt(t *testing.T) {
	files, err := filepath.Glob("examples/*Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 7 {
		t.Fatalf("found only %d examples", len(files))
	}
	for _, f := range files {
		twin := strings.TrimSuffix(f, ".Caddyfile") + ".json"
		if filepath.Base(f) == "Caddyfile" {
			twin = f + ".json"
		}
		t.Run(filepath.Base(f), func(t *testing.T) { assertExampleJSON(t, f, twin) })
	}
}

func TestReplayExampleAdapts(t *testing.T) {
	assertExampleJSON(t, "examples/replay.Caddyfile", "examples/replay.json")
}

func TestOpenAPIExampleAdapts(t *testing.T) {
	assertExampleJSON(t, "examples/openapi.Caddyfile", "examples/openapi.json")
}
