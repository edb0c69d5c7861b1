package keystore

import (
	"sync"
	"testing"
	"time"
)

// TestGraceDue: key.used_in_grace goes out at most once an hour per key.
func TestGraceDue(t *testing.T) {
	const id = "graceDueKey1"
	for i, step := range []struct {
		after time.Duration
		want  bool
	}{
		{0, true},
		{time.Minute, false},
		{59 * time.Minute, false},
		{time.Hour, true},
		{time.Hour + time.Second, false},
	} {
		if got := graceDue(id, t0.Add(step.after)); got != step.want {
			t.Fatalf("step %d (+%v): due %v, want %v", i, step.after, got, step.want)
		}
	}
	if !graceDue(id+"x", t0) {
		t.Fatal("another key is not due")
	}
}

// graceEmits records the emissions of NoteGraceUse.
type graceEmits struct {
	mu    sync.Mutex
	names []string
	data  []map[string]any
	seen  chan struct{}
}

func newGraceEmits() *graceEmits { return &graceEmits{seen: make(chan struct{}, 10)} }

func (g *graceEmits) emit(name string, data map[string]any) {
	g.mu.Lock()
	g.names, g.data = append(g.names, name), append(g.data, data)
	g.mu.Unlock()
	g.seen <- struct{}{}
}

func (g *graceEmits) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.names)
}

// TestNoteGraceUse: the event carries the key and its consumer; a second
// gateway (another process: its memory has not seen the key) sends nothing
// in the same hour when Redis is shared.
func TestNoteGraceUse(t *testing.T) {
	const id = "graceUseKey1"
	e := newGraceEmits()
	NoteGraceUse(nil, id, "shop", t0, e.emit)
	<-e.seen
	if e.names[0] != EventUsedInGrace || e.data[0]["id"] != id || e.data[0]["consumer"] != "shop" || e.data[0]["at"] != "2026-01-02T03:04:05Z" {
		t.Fatalf("event %s %v", e.names[0], e.data[0])
	}

	client := startRedis(t)
	const clustered = "graceUseKey2"
	NoteGraceUse(client, clustered, "shop", t0, e.emit)
	<-e.seen
	graceSent.Delete(clustered) // the second gateway's memory
	NoteGraceUse(client, clustered, "shop", t0.Add(time.Minute), e.emit)
	select {
	case <-e.seen:
		t.Fatal("sent twice in one hour across the cluster")
	case <-time.After(300 * time.Millisecond):
	}
	if e.count() != 2 {
		t.Fatalf("%d events", e.count())
	}
}
