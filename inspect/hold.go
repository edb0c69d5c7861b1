package inspect

import (
	"errors"
	"io"
	"math"
	"net/http"
	"sync"

	"go.uber.org/zap"
)

const (
	// spoolMemory is how much of a held request body stays in memory.
	spoolMemory = 64 << 10
	// readChunk is the size of the reads of a request body.
	readChunk = 32 << 10
	// maxHeldBody bounds a body held for checking when max_body is not set,
	// so that no client can make the gateway hold an unbounded body on disk.
	maxHeldBody = 32 << 20
)

var readBufs = sync.Pool{New: func() any { b := make([]byte, readChunk); return &b }}

// held is what api_inspect keeps of a request until the request is done.
type held struct {
	spool   Spool // the held body, while spooled
	spooled bool
	// body, in report mode, is the rest of a body passed on after a refusal
	// the checks would have made, read on through its decoder.
	body *BodyReader
	// slow is the reader that enforces min_upload_rate on the body.
	slow *rateReader
	// reported is set in report mode once the checks' refusal was
	// recorded: they check no more.
	reported bool
}

// report notes that the checks' refusal was recorded in report mode.
func (h *held) report() {
	h.reported = true
	if h.slow != nil {
		h.slow.ended = true
	}
}

// release lets go of the held body and of the body's read deadline.
func (h *held) release() {
	if h.body != nil {
		h.body.Close() //nolint:errcheck // returns it to its pool
	}
	if h.spooled {
		h.spool.Close() //nolint:errcheck // a temporary file, unlinked already
	}
	if h.slow != nil {
		h.slow.release()
	}
}

// holdBody reads the body, decoded from its content coding, through the
// checker into a spool, and on success hands the spool to the next handler
// as the body (decoded, without Content-Encoding: the upstream reads exactly
// what was checked).
func (in *Inspect) holdBody(r *http.Request, kind BodyKind, coding Coding, rec *auditRecorder, h *held) refusal {
	limit := in.MaxBody
	if limit == 0 {
		limit = maxHeldBody
	}
	if r.ContentLength > limit {
		return in.refuse(in.ans.tooLarge)
	}
	memCap := spoolMemory
	if coding == CodingIdentity && r.ContentLength > 0 && r.ContentLength < int64(memCap) {
		memCap = int(r.ContentLength)
	}
	h.spool, h.spooled = Spool{MemLimit: spoolMemory, mem: make([]byte, 0, memCap)}, true
	readLimit := limit
	if in.gate.Reporting() {
		// A body passed on after a refusal the checks would have made is
		// not cut at the limit: readHeld checks it.
		readLimit = math.MaxInt64
	}
	body, err := NewBodyReader(r.Body, coding, readLimit)
	if err != nil {
		return in.passRead(r, h, nil, coding, in.readRefusal(err), err)
	}
	if ref := in.readHeld(body, kind, &h.spool, limit); ref.ans != nil {
		return in.passRead(r, h, body, coding, ref, nil)
	}
	total := body.Decoded()
	body.Close() //nolint:errcheck // returns it to its pool
	rd, err := h.spool.Reader()
	if err != nil {
		return in.fail(in.ans.unreadBack)
	}
	r.Body.Close() //nolint:errcheck
	if rec != nil {
		rec.bytesIn, rec.heldWhole = total, true
		if rec.bodyLimit > 0 {
			rec.reqBody = append([]byte(nil), h.spool.Head(int(rec.bodyLimit))...)
		}
	}
	if coding != CodingIdentity {
		r.Header.Del("Content-Encoding")
	}
	r.Body = io.NopCloser(rd)
	r.ContentLength = total
	r.TransferEncoding = nil
	return refusal{}
}

// readHeld reads the body through the checker into the spool, to its end or
// to the first refusal. Every byte read is in the spool, also when it is
// refused.
func (in *Inspect) readHeld(body *BodyReader, kind BodyKind, sp *Spool, limit int64) refusal {
	checker := in.checkers.Get().(*BodyChecker)
	defer in.checkers.Put(checker)
	checker.Reset(kind)
	buf := readBufs.Get().(*[]byte)
	defer readBufs.Put(buf)
	for {
		n, err := body.Read(*buf)
		if n > 0 {
			if _, werr := sp.Write((*buf)[:n]); werr != nil {
				in.logger.Error("holding a request body", zap.Error(werr))
				return in.fail(in.ans.unheld)
			}
			if _, cerr := checker.Write((*buf)[:n]); cerr != nil {
				return in.bodyRefusal(cerr)
			}
			if body.Sent() > limit || body.Decoded() > limit {
				// Report mode reads past the limit (enforce mode's reader
				// stops at it).
				return in.refuse(in.ans.tooLarge)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return in.readRefusal(err)
		}
	}
	if err := checker.Close(); err != nil {
		return in.bodyRefusal(err)
	}
	return refusal{}
}

// passRead prepares a refused body to pass on in report mode: the next
// handler reads what the spool holds, then the rest of the body through its
// decoder (or the error that stopped its reading, failed), so it gets the
// body as it was read. In enforce mode, and for a refusal of the strict
// gate, it only lets go of the decoder.
func (in *Inspect) passRead(r *http.Request, h *held, body *BodyReader, coding Coding, ref refusal, failed error) refusal {
	if ref.gate != in.gate || !in.gate.Reporting() {
		if body != nil {
			body.Close() //nolint:errcheck // returns it to its pool
		}
		return ref
	}
	rd, err := h.spool.Reader()
	if err != nil {
		if body != nil {
			body.Close() //nolint:errcheck
		}
		return in.fail(in.ans.unreadBack)
	}
	var rest io.Reader = failedBody{failed}
	if body != nil {
		h.body, rest = body, body
	}
	r.Body = passedBody{Reader: io.MultiReader(rd, rest), Closer: r.Body}
	if coding != CodingIdentity {
		// The rest is read decoded, to an end no header announces.
		r.Header.Del("Content-Encoding")
		r.ContentLength = -1
		r.TransferEncoding = nil
	}
	return ref
}

// passedBody is a body passed on in report mode; closing it closes the
// client's body.
type passedBody struct {
	io.Reader
	io.Closer
}

// failedBody is the rest of a body whose reading failed: the error again.
type failedBody struct{ err error }

func (f failedBody) Read([]byte) (int, error) { return 0, f.err }
