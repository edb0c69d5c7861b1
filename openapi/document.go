package openapi

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	liberrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/helpers"
	"github.com/pb33f/libopenapi-validator/requests"
	"github.com/pb33f/libopenapi-validator/router"
	"github.com/pb33f/libopenapi/datamodel"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
)

// documents holds the compiled documents, keyed by the file's absolute path
// and the hash of its content, so that a reload of a config whose document
// did not change compiles nothing.
var documents = caddy.NewUsagePool()

// document is an OpenAPI document compiled once: its model, the router that
// matches requests to operations, and the validator with every schema
// compiled. It is immutable and safe for concurrent use.
type document struct {
	file string
	// quoted lists the bare status codes read as strings ("line N: 204").
	quoted []string
	model  *v3.Document
	router router.Router
	// validator checks parameters (not bodies), responses and the document.
	validator validator.Validator
	// bodies holds the request body schemas compiled by compileBody, by
	// media type; a JSON media type missing here goes to library.
	bodies map[*v3.MediaType]*bodySchema
	// params holds the operations that declare parameters, on the operation
	// or its path item: the others have none to validate (strict mode is
	// off, so undeclared ones pass).
	params map[*v3.Operation]bool
	// plans validates the parameters of the operations whose parameters
	// compileParams covered; the others go to validator.
	plans   map[*v3.Operation]*paramPlan
	library requests.RequestBodyValidator
	// trie matches plain request paths; nil when a template is not one it
	// holds, and the library's router matches every request.
	trie *pathTrie
	// trieComplete: the trie holds every template, and a path it misses
	// is not in the document.
	trieComplete bool
	// libBases are the base paths the library's router strips: each
	// server's non-empty URL path.
	libBases []string
	// allow is the Allow header of each path item: its methods.
	allow map[*v3.PathItem]string
	// bases are the base paths of the document's servers, without a trailing
	// slash ("" for a server at the root, or for a document without servers).
	bases []string
}

// Destruct releases the validator's caches once no config uses the document.
func (d *document) Destruct() error {
	d.validator.Release()
	d.library.Release()
	d.router.Release()
	return nil
}

// loadDocument returns the compiled document of file from the pool, compiling
// it when no config holds it yet. Release it with documents.Delete(key).
func loadDocument(file string) (doc *document, key string, err error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, "", fmt.Errorf("openapi document %s: %w", file, err)
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, "", fmt.Errorf("reading openapi document: %w", err)
	}
	sum := sha256.Sum256(data)
	key = abs + "#" + hex.EncodeToString(sum[:])
	v, _, err := documents.LoadOrNew(key, func() (caddy.Destructor, error) {
		return compile(abs, data, true)
	})
	if err != nil {
		return nil, "", err
	}
	return v.(*document), key, nil
}

// compile parses, checks and compiles a document. Its errors name the file
// and, for a document that breaks the OpenAPI schema, the JSON pointer of the
// first offending node. Only tests skip the check (check false), to run
// real documents that the check refuses for a detail.
func compile(file string, data []byte, check bool) (*document, error) {
	data, quoted := quoteStatusCodes(data)
	cfg := &datamodel.DocumentConfiguration{
		BasePath:            filepath.Dir(file),
		SpecFilePath:        filepath.Base(file),
		AllowFileReferences: true,
		Logger:              slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	parsed, err := libopenapi.NewDocumentWithConfiguration(data, cfg)
	if err != nil {
		return nil, fmt.Errorf("openapi document %s: %w", file, err)
	}
	if v := parsed.GetVersion(); !strings.HasPrefix(v, "3.") {
		return nil, fmt.Errorf("openapi document %s: version %q: want OpenAPI 3.0 or 3.1", file, v)
	}
	built, err := parsed.BuildV3Model()
	if err != nil {
		return nil, fmt.Errorf("openapi document %s: %w", file, firstError(err))
	}
	model := &built.Model
	// Without a regex cache the validator compiles a path template's
	// expression on every request.
	regexes := &sync.Map{}
	val := validator.NewValidatorFromV3Model(model, config.WithoutSecurityValidation(), config.WithRegexCache(regexes),
		config.WithoutRequestBodyValidation())
	val.SetDocument(parsed)
	if ok, verrs := val.ValidateDocument(); check && !ok {
		val.Release()
		return nil, fmt.Errorf("openapi document %s: %s", file, documentError(verrs))
	}
	if model.Paths == nil || model.Paths.PathItems == nil || model.Paths.PathItems.Len() == 0 {
		val.Release()
		return nil, fmt.Errorf("openapi document %s: /paths: the document describes no operation", file)
	}
	d := &document{
		file:      file,
		quoted:    quoted,
		model:     model,
		router:    router.NewRouter(model, router.WithPathOnlyMatching(), router.WithRegexCache(regexes)),
		validator: val,
		allow:     map[*v3.PathItem]string{},
		bases:     basePaths(model.Servers),
		bodies:    map[*v3.MediaType]*bodySchema{},
		params:    map[*v3.Operation]bool{},
		plans:     map[*v3.Operation]*paramPlan{},
		library:   requests.NewRequestBodyValidator(model, config.WithoutSecurityValidation(), config.WithRegexCache(regexes)),
	}
	d.trie, d.trieComplete = buildTrie(model)
	d.index()
	return d, nil
}

// index builds, for each path item and operation, the Allow header, whether
// it has parameters, and its compiled JSON request body schemas.
func (d *document) index() {
	version := helpers.VersionToFloat(d.model.Version)
	for _, srv := range d.model.Servers {
		if srv != nil {
			if b := libraryBase(srv.URL); b != "" {
				d.libBases = append(d.libBases, b)
			}
		}
	}
	for template, item := range d.model.Paths.PathItems.FromOldest() {
		d.allow[item] = allowHeader(item)
		for _, op := range item.GetOperations().FromOldest() {
			d.params[op] = len(op.Parameters) > 0 || len(item.Parameters) > 0
			if d.params[op] {
				d.plans[op] = compileParams(item, op, template)
			}
			if op.RequestBody == nil || op.RequestBody.Content == nil {
				continue
			}
			for name, mt := range op.RequestBody.Content.FromOldest() {
				if mt.Schema != nil && containsJSON(name) {
					if s := compileBody(mt.Schema.Schema(), version); s != nil {
						d.bodies[mt] = s
					}
				}
			}
		}
	}
}

// firstError unwraps a joined error to its first part: libopenapi joins
// every reference it could not resolve, and one is enough to act on.
func firstError(err error) error {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		if errs := joined.Unwrap(); len(errs) > 0 {
			return errs[0]
		}
	}
	return err
}

// documentError words the first violation of the OpenAPI schema in the file
// (the lowest line, then the pointer: the library's order varies from run to
// run): the JSON pointer of the node, the line, and why.
func documentError(verrs []*liberrors.ValidationError) string {
	found, line, at, why := false, 0, "", ""
	for _, e := range verrs {
		for _, f := range e.SchemaValidationErrors {
			p := pointer(f.InstancePath)
			if !found || f.Line < line || f.Line == line && p < at {
				found, line, at, why = true, f.Line, p, f.Reason
			}
		}
	}
	if found {
		if why == "false schema" { // the schema's way to refuse an unknown field
			why = "not a field OpenAPI allows here"
		}
		return fmt.Sprintf("%s (line %d): %s", at, line, why)
	}
	if len(verrs) > 0 {
		return fmt.Sprintf("line %d: %s", verrs[0].SpecLine, verrs[0].Reason)
	}
	return "invalid document"
}

// basePaths lists the base paths of servers: the path of each URL, with its
// variables replaced by each value of their enum, or their default.
func basePaths(servers []*v3.Server) []string {
	if len(servers) == 0 {
		return []string{""}
	}
	var bases []string
	for _, srv := range servers {
		raw := srv.URL
		if i := strings.Index(raw, "://"); i >= 0 {
			raw = raw[i+3:]
			if j := strings.IndexByte(raw, '/'); j >= 0 {
				raw = raw[j:]
			} else {
				raw = ""
			}
		}
		paths := []string{strings.TrimSuffix(raw, "/")}
		if srv.Variables != nil {
			for name, v := range srv.Variables.FromOldest() {
				values := v.Enum
				if len(values) == 0 {
					values = []string{v.Default}
				}
				var next []string
				for _, p := range paths {
					for _, val := range values {
						next = append(next, strings.ReplaceAll(p, "{"+name+"}", val))
					}
				}
				paths = next
			}
		}
		for _, p := range paths {
			if !slices.Contains(bases, p) {
				bases = append(bases, p)
			}
		}
	}
	return bases
}

// onBase reports whether the request path escaped reached requestPath, the
// part the router matched to a path template, through one of the servers'
// base paths.
func (d *document) onBase(escaped, requestPath string) bool {
	base, ok := strings.CutSuffix(escaped, requestPath)
	if !ok {
		return false
	}
	return slices.Contains(d.bases, strings.TrimSuffix(base, "/"))
}

// allowHeader lists the methods of a path item, for the Allow header of a 405.
func allowHeader(item *v3.PathItem) string {
	var methods []string
	for method := range item.GetOperations().FromOldest() {
		methods = append(methods, strings.ToUpper(method))
	}
	sort.Strings(methods)
	return strings.Join(methods, ", ")
}

// pointer renders the validator's path segments, which come escaped, as a
// JSON pointer (RFC 6901).
func pointer(segments []string) string {
	if len(segments) == 0 {
		return ""
	}
	return "/" + strings.Join(segments, "/")
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")
