package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Backend is the storage of the outbox: a subset of certmagic.Storage.
type Backend interface {
	Store(ctx context.Context, key string, value []byte) error
	Load(ctx context.Context, key string) ([]byte, error)
	Delete(ctx context.Context, key string) error
	List(ctx context.Context, path string, recursive bool) ([]string, error)
}

// Message is one pending delivery, as kept in the outbox.
type Message struct {
	// ID is the webhook-id header: the same on every attempt.
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Body        json.RawMessage `json:"body"`
	CreatedAt   time.Time       `json:"created_at"`
	Attempts    int             `json:"attempts"`
	NextAttempt time.Time       `json:"next_attempt"`
	LastError   string          `json:"last_error,omitempty"`
}

// Config is what a Notifier delivers to and how.
type Config struct {
	// URL receives the messages by POST.
	URL string
	// Key is the decoded webhook secret.
	Key []byte
	// Timeout bounds one delivery attempt. Default 10s.
	Timeout time.Duration
	// GiveUpAfter is how long a message is retried before it is dropped (and
	// logged). Default 72h; never less than 24h.
	GiveUpAfter time.Duration
}

// Notifier queues events in an outbox folder of a Backend and delivers them in
// the background. It is safe for concurrent use; Enqueue never blocks on the
// network.
type Notifier struct {
	backend Backend
	folder  string
	logger  atomic.Pointer[zap.Logger] // the current config's (Configure)
	client  *http.Client
	now     func() time.Time

	mu      sync.Mutex
	cfg     Config
	pending map[string]*Message
	wake    chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
}

// Backoff returns the wait before attempt n+1 after n failed attempts: the first
// retry comes within 5 seconds, then 5s·2^(n-1) capped at an hour, each with
// ±50% jitter.
func Backoff(n int) time.Duration {
	if n <= 1 {
		return time.Second + time.Duration(mrand.Int64N(int64(4*time.Second)))
	}
	d := 5 * time.Second << min(n-1, 20)
	if d > time.Hour || d <= 0 {
		d = time.Hour
	}
	return d/2 + time.Duration(mrand.Int64N(int64(d)))
}

// New returns a notifier whose outbox is folder of backend. Call Start to begin
// delivering.
func New(backend Backend, folder string, cfg Config, logger *zap.Logger) *Notifier {
	n := &Notifier{
		backend: backend,
		folder:  folder,
		client:  &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		now:     time.Now,
		pending: make(map[string]*Message),
		wake:    make(chan struct{}, 1),
	}
	n.Configure(cfg, logger)
	return n
}

// Configure replaces the delivery settings and the logger (after a config
// reload: the delivery loop logs through the current config's logger).
func (n *Notifier) Configure(cfg Config, logger *zap.Logger) {
	n.logger.Store(logger)
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.GiveUpAfter < 24*time.Hour {
		cfg.GiveUpAfter = 72 * time.Hour
	}
	n.mu.Lock()
	n.cfg = cfg
	n.mu.Unlock()
	n.poke()
}

func (n *Notifier) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func newMessageID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("msg_%x", b)
}

// Enqueue stores a message for event typ at time at with data, and wakes the
// delivery loop. The body is `{"type","timestamp","data"}`.
func (n *Notifier) Enqueue(ctx context.Context, typ string, at time.Time, data map[string]any) error {
	body, err := json.Marshal(struct {
		Type      string         `json:"type"`
		Timestamp string         `json:"timestamp"`
		Data      map[string]any `json:"data"`
	}{typ, at.UTC().Format(time.RFC3339), data})
	if err != nil {
		return fmt.Errorf("encoding %s event: %w", typ, err)
	}
	now := n.now()
	m := &Message{ID: newMessageID(), Type: typ, Body: body, CreatedAt: now, NextAttempt: now}
	if err := n.save(ctx, m); err != nil {
		return err
	}
	n.mu.Lock()
	n.pending[m.ID] = m
	n.mu.Unlock()
	n.poke()
	return nil
}

func (n *Notifier) key(id string) string { return path.Join(n.folder, id+".json") }

func (n *Notifier) save(ctx context.Context, m *Message) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := n.backend.Store(ctx, n.key(m.ID), data); err != nil {
		return fmt.Errorf("storing webhook message: %w", err)
	}
	return nil
}

// Pending returns the messages not yet delivered, oldest first.
func (n *Notifier) Pending() []Message {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]Message, 0, len(n.pending))
	for _, m := range n.pending {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out
}

// load reads the outbox left by an earlier run.
func (n *Notifier) load(ctx context.Context) error {
	names, err := n.backend.List(ctx, n.folder, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing the webhook outbox: %w", err)
	}
	for _, name := range names {
		if !strings.HasSuffix(name, ".json") {
			continue
		}
		data, err := n.backend.Load(ctx, path.Join(n.folder, path.Base(name)))
		if err != nil {
			continue
		}
		var m Message
		if json.Unmarshal(data, &m) != nil || !strings.HasPrefix(m.ID, "msg_") || m.ID+".json" != path.Base(name) {
			n.logger.Load().Warn("skipping an unreadable webhook message", zap.String("file", path.Base(name)))
			continue
		}
		n.mu.Lock()
		if _, ok := n.pending[m.ID]; !ok {
			n.pending[m.ID] = &m
		}
		n.mu.Unlock()
	}
	return nil
}

// Start loads the outbox and delivers in the background until Stop.
func (n *Notifier) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	n.mu.Lock()
	if n.cancel != nil {
		n.mu.Unlock()
		cancel()
		return
	}
	n.cancel, n.done = cancel, make(chan struct{})
	n.mu.Unlock()
	go n.run(ctx)
}

// Stop ends the delivery loop and waits for it. Pending messages stay in the
// outbox for the next Start.
func (n *Notifier) Stop() {
	n.mu.Lock()
	cancel, done := n.cancel, n.done
	n.cancel = nil
	n.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

func (n *Notifier) run(ctx context.Context) {
	defer close(n.done)
	if err := n.load(ctx); err != nil {
		n.logger.Load().Error("loading the webhook outbox", zap.Error(err))
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		next := n.deliverDue(ctx)
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(n.now()), 10*time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-n.wake:
		case <-timer.C:
		}
	}
}

// deliverDue attempts every message that is due and returns when the next one
// is.
func (n *Notifier) deliverDue(ctx context.Context) time.Time {
	now := n.now()
	n.mu.Lock()
	var due []*Message
	for _, m := range n.pending {
		if !m.NextAttempt.After(now) {
			due = append(due, m)
		}
	}
	cfg := n.cfg
	n.mu.Unlock()
	sort.Slice(due, func(i, j int) bool { return due[i].CreatedAt.Before(due[j].CreatedAt) })

	for _, m := range due {
		if ctx.Err() != nil {
			return time.Time{}
		}
		n.attempt(ctx, cfg, m)
	}

	n.mu.Lock()
	defer n.mu.Unlock()
	var next time.Time
	for _, m := range n.pending {
		if next.IsZero() || m.NextAttempt.Before(next) {
			next = m.NextAttempt
		}
	}
	return next
}

func (n *Notifier) attempt(ctx context.Context, cfg Config, m *Message) {
	err := n.post(ctx, cfg, m)
	if ctx.Err() != nil {
		return // stopping: the message stays as it was
	}
	now := n.now()
	n.mu.Lock()
	defer n.mu.Unlock()
	if err == nil {
		delete(n.pending, m.ID)
		if derr := n.backend.Delete(context.WithoutCancel(ctx), n.key(m.ID)); derr != nil && !errors.Is(derr, fs.ErrNotExist) {
			n.logger.Load().Warn("removing a delivered webhook message", zap.String("webhook_id", m.ID), zap.Error(derr))
		}
		return
	}
	m.Attempts++
	m.LastError = err.Error()
	if now.Sub(m.CreatedAt) > cfg.GiveUpAfter {
		n.logger.Load().Error("giving up on a webhook message", zap.String("webhook_id", m.ID), zap.String("type", m.Type),
			zap.Int("attempts", m.Attempts), zap.String("last_error", m.LastError))
		delete(n.pending, m.ID)
		_ = n.backend.Delete(context.WithoutCancel(ctx), n.key(m.ID))
		return
	}
	m.NextAttempt = now.Add(Backoff(m.Attempts))
	if c := n.logger.Load().Check(zap.WarnLevel, "webhook delivery failed"); c != nil {
		c.Write(zap.String("webhook_id", m.ID), zap.String("type", m.Type), zap.Int("attempts", m.Attempts),
			zap.Time("next_attempt", m.NextAttempt), zap.String("error", m.LastError))
	}
	if serr := n.save(context.WithoutCancel(ctx), m); serr != nil {
		n.logger.Load().Warn("saving a webhook message", zap.Error(serr))
	}
}

func (n *Notifier) post(ctx context.Context, cfg Config, m *Message) error {
	if cfg.URL == "" {
		return errors.New("no webhook URL configured")
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.URL, bytes.NewReader(m.Body))
	if err != nil {
		return err
	}
	ts := n.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "caddy-apigate")
	req.Header.Set("webhook-id", m.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", Sign(cfg.Key, m.ID, ts, m.Body))
	resp, err := n.client.Do(req)
	if err != nil {
		return fmt.Errorf("posting: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("receiver answered %d", resp.StatusCode)
	}
	return nil
}
