package inspect

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// errSlowBody is a request body that arrived slower than api_inspect's
// min_upload_rate.
var errSlowBody = errors.New("request body arrived too slowly")

// uploadDeadline is when the first n bytes of a body that started at start
// must have arrived: after the grace, one second for every rate bytes (as
// Apache's mod_reqtimeout MinRate counts).
func uploadDeadline(start time.Time, grace time.Duration, rate, n int64) time.Time {
	credit := float64(n) / float64(rate) * float64(time.Second)
	if credit > float64(100*365*24*time.Hour) {
		credit = float64(100 * 365 * 24 * time.Hour)
	}
	return start.Add(grace + time.Duration(credit))
}

// rateReader enforces a minimum upload rate on a request body: before each
// read it sets the connection's read deadline (through
// http.ResponseController, which Caddy's own read timeouts take as a ceiling
// they never loosen) to when the bytes read so far allowed, so a client that
// trickles its body is cut off. Where the deadline cannot be set (a writer
// that does not support it), a read that returns after the deadline fails.
// Once the body ends the deadline is cleared.
//
// In report mode (observe) it sets no deadline and fails no read: it notes
// that the body fell behind (late) and stops checking.
//
// It is not safe for concurrent use, as request bodies are not.
type rateReader struct {
	body  io.ReadCloser
	rc    http.ResponseController
	start time.Time
	grace time.Duration
	rate  int64

	n           int64
	armed       bool // a deadline of ours is set
	unsupported bool // the writer cannot set read deadlines
	observe     bool // report mode
	timedOut    bool
	late        bool // report mode: the body fell behind
	ended       bool

	// writer is the slowBodyWriter of the request, allocated with it.
	writer slowBodyWriter
}

func newRateReader(w http.ResponseWriter, body io.ReadCloser, start time.Time, grace time.Duration, rate int64, observe bool) *rateReader {
	return &rateReader{body: body, rc: *http.NewResponseController(w), start: start, grace: grace, rate: rate, observe: observe}
}

// answerFor returns the slowBodyWriter that stands before the next handler
// of req, which writes to w.
func (r *rateReader) answerFor(w http.ResponseWriter, in *Inspect, req *http.Request) *slowBodyWriter {
	r.writer = slowBodyWriter{ResponseWriter: w, slow: r, in: in, r: req}
	return &r.writer
}

func (r *rateReader) Read(p []byte) (int, error) {
	if r.ended {
		return r.body.Read(p)
	}
	deadline := uploadDeadline(r.start, r.grace, r.rate, r.n)
	if !r.unsupported && !r.observe {
		if err := r.rc.SetReadDeadline(deadline); err != nil {
			r.unsupported = true
		} else {
			r.armed = true
		}
	}
	n, err := r.body.Read(p)
	r.n += int64(n)
	late := (r.unsupported || r.observe) && time.Now().After(deadline)
	switch {
	case late && r.observe:
		r.late, r.ended = true, true
		return n, err
	case err != nil && isTimeout(err), late:
		r.timedOut, r.ended = true, true
		if err == nil {
			return n, errSlowBody
		}
		return n, errors.Join(errSlowBody, err)
	case err != nil:
		r.release()
	}
	return n, err
}

func (r *rateReader) Close() error { return r.body.Close() }

// release clears the read deadline once the body ended or the handler is
// done with it, so it does not bound what follows on the connection. A
// deadline that fired stays: it bounds the drain of the unread body.
func (r *rateReader) release() {
	r.ended = true
	if r.armed && !r.timedOut {
		r.armed = false
		_ = r.rc.SetReadDeadline(time.Time{})
	}
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// slowBodyWriter stands between api_inspect and the next handler while that
// handler streams a body under min_upload_rate: once the body fell behind,
// the next handler's answer (reverse_proxy's 499 for a request whose
// connection failed, or a 502) is replaced with api_inspect's 408.
type slowBodyWriter struct {
	http.ResponseWriter
	slow        *rateReader
	in          *Inspect
	r           *http.Request
	wroteHeader bool
	answered    bool // the 408 went out instead of the next handler's answer
	err         error
}

func (w *slowBodyWriter) WriteHeader(code int) {
	switch {
	case w.answered:
		return
	case !w.wroteHeader && w.slow.timedOut:
		w.answer()
		return
	}
	if code >= 200 {
		w.wroteHeader = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *slowBodyWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader && !w.answered {
		w.WriteHeader(http.StatusOK)
	}
	if w.answered {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// answer writes the 408 once, unless the next handler's answer began.
func (w *slowBodyWriter) answer() {
	if w.answered || w.wroteHeader {
		return
	}
	w.answered = true
	_, w.err = w.in.gate.Reject(w.ResponseWriter, w.r, w.in.ans.slow)
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *slowBodyWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
