package http

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/phonefleet/phonefleet"
)

// names declares the query parameters and JSON body members an endpoint
// knows. Every route is registered with its names (see routes), and
// checkNames refuses, with KOOPHONE.API.1000 naming it:
//
//   - a query parameter that is not in Query (so a misspelled dry_run is
//     never taken for "no dry run"), given twice, or whose value is not
//     valid UTF-8 or holds control or bidirectional override characters;
//   - a body member, at any depth, whose name equals one of Body or Query
//     except for case, '_' and '-' (dryRun, dry_run, InstanceIdList) without
//     being a member of Body itself; other unknown members are ignored, as
//     KooPhone clients may send fields phonefleet does not know;
//   - a body that is not valid UTF-8.
//
// A new endpoint gets all of this by declaring its names.
type names struct {
	// Query lists the query parameters, including those KooPhone documents
	// that phonefleet ignores.
	Query []string
	// Body lists the members of the JSON body at every depth; nil for an
	// endpoint without a body.
	Body []string
	// Audit is the action a refused request is audited under; "" for
	// endpoints that change nothing.
	Audit string
}

// checkNames wraps h in the checks of n. It runs after authentication and
// the action check, as the first of the parameter checks.
func (s *Server) checkNames(n names, h http.HandlerFunc) http.HandlerFunc {
	query := make(map[string]bool, len(n.Query))
	for _, name := range n.Query {
		query[name] = true
	}
	body := make(map[string]bool, len(n.Body))
	folded := make(map[string]string, len(n.Body)+len(n.Query))
	for _, name := range n.Query {
		folded[foldName(name)] = name
	}
	for _, name := range n.Body {
		body[name] = true
		folded[foldName(name)] = name
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail := func(err error) {
			if n.Audit != "" {
				s.auditFailure(r, n.Audit, nil, err)
			}
			Error(w, r, err)
		}
		if err := checkQueryNames(r.URL.RawQuery, query); err != nil {
			fail(err)
			return
		}
		if n.Body != nil {
			buf, err := readJSONBody(r)
			if err != nil {
				fail(err)
				return
			}
			if err := checkBodyNames(buf, body, folded); err != nil {
				fail(err)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(buf))
		}
		h.ServeHTTP(w, r)
	})
}

// checkQueryNames checks a raw query string against the known parameters.
func checkQueryNames(raw string, known map[string]bool) error {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return phonefleet.Errorf(phonefleet.EInvalid, "query string is malformed")
	}
	// Report in the order the client wrote them.
	for _, pair := range strings.Split(raw, "&") {
		if pair == "" {
			continue
		}
		name, _, _ := strings.Cut(pair, "=")
		name, _ = url.QueryUnescape(name)
		if !known[name] {
			return phonefleet.Errorf(phonefleet.EInvalid, "query parameter %q is not known", name)
		}
		if vs := q[name]; len(vs) > 1 {
			return phonefleet.Errorf(phonefleet.EInvalid, "%s must be given at most once", name)
		}
		if err := phonefleet.CheckText(name, q.Get(name)); err != nil {
			return err
		}
	}
	return nil
}

// maxBodyDepth bounds the nesting checkBodyNames follows; deeper bodies are
// refused (no KooPhone body nests more than two levels).
const maxBodyDepth = 64

// checkBodyNames checks a body's member names at every depth against the
// known ones. A body that is not valid JSON is left to the endpoint's
// decoder to report.
func checkBodyNames(body []byte, known map[string]bool, folded map[string]string) error {
	if !utf8.Valid(body) {
		return phonefleet.Errorf(phonefleet.EInvalid, "request body must be valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	err := walkNames(dec, 0, func(name string) error {
		if known[name] {
			return nil
		}
		if k, ok := folded[foldName(name)]; ok {
			return phonefleet.Errorf(phonefleet.EInvalid, "request body member %q is not known (did you mean %q?)", name, k)
		}
		return nil
	})
	if err == errMalformed {
		return nil
	}
	return err
}

// errMalformed stops walkNames at malformed JSON.
var errMalformed = phonefleet.Errorf(phonefleet.EInvalid, msgBodyMalformed)

// walkNames reads one JSON value from dec and calls visit with the name of
// every object member in it, at any depth.
func walkNames(dec *json.Decoder, depth int, visit func(string) error) error {
	if depth > maxBodyDepth {
		return phonefleet.Errorf(phonefleet.EInvalid, "request body must not nest deeper than %d levels", maxBodyDepth)
	}
	t, err := dec.Token()
	if err != nil {
		return errMalformed
	}
	switch t {
	case json.Delim('{'):
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return errMalformed
			}
			name, _ := k.(string)
			if err := visit(name); err != nil {
				return err
			}
			if err := walkNames(dec, depth+1, visit); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return errMalformed
		}
	case json.Delim('['):
		for dec.More() {
			if err := walkNames(dec, depth+1, visit); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return errMalformed
		}
	}
	return nil
}
