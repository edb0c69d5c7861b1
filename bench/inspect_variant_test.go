package main

import (
	"encoding/json"
	"testing"
)

func TestInspectVariantBody(t *testing.T) {
	if len(benchJSON1K) != 1024 || !json.Valid(benchJSON1K) {
		t.Fatalf("the inspect body is %d bytes, valid %v", len(benchJSON1K), json.Valid(benchJSON1K))
	}
	if baselineOf("inspect") != "plain_post" || baselineOf("api_key") != "plain" {
		t.Fatal("baselines")
	}
	r := report{Results: []result{{Variant: "plain", RPS: 1000}, {Variant: "plain_post", RPS: 500}, {Variant: "inspect", RPS: 450, Target: 0.85}}}
	r.compare()
	if got := r.Results[2]; got.Ratio == nil || *got.Ratio != 0.9 || got.Verdict != "PASS" || got.Baseline != "plain_post" {
		t.Fatalf("inspect compared as %+v", got)
	}
}
