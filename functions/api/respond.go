package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/caliopen/functions/internal/store"
)

// reply writes v as JSON with status.
func reply(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode answer: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return nil
}

// noContent answers 204.
func noContent(w http.ResponseWriter) error {
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// decode reads the request's JSON body into dst: one JSON object, at most
// MaxBodyBytes, no unknown field. Each failure is a 4xx with a message that
// names the problem (never a value of the body).
func (s *server) decode(w http.ResponseWriter, c *call, dst any) error {
	if ct := c.r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return &apiError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type",
				msg: "send the body as application/json"}
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, c.r.Body, s.cfg.MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return s.decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return s.decodeError(err)
		}
		return badRequest("invalid_json", "the body must hold one JSON object and nothing after it")
	}
	return nil
}

// decodeError words a JSON decoding error.
func (s *server) decodeError(err error) error {
	var (
		tooBig  *http.MaxBytesError
		syntax  *json.SyntaxError
		typeErr *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooBig):
		return &apiError{status: http.StatusRequestEntityTooLarge, code: "body_too_large",
			msg: fmt.Sprintf("the body is larger than %d bytes", s.cfg.MaxBodyBytes)}
	case errors.Is(err, io.EOF):
		return badRequest("invalid_json", "the body is empty: want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("invalid_json", "the body ends in the middle of a JSON value")
	case errors.As(err, &syntax):
		return badRequest("invalid_json", "malformed JSON at byte %d: %s", syntax.Offset, syntax.Error())
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return badRequest("invalid_json", "the body must be a JSON object, not %s", typeErr.Value)
		}
		return badRequest("invalid_field", "field %q must be %s, not %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return badRequest("unknown_field", "the body has %s that this request does not take", fieldName(strings.TrimPrefix(err.Error(), "json: unknown field ")))
	}
	return badRequest("invalid_json", "the body is not valid JSON for this request")
}

// fieldName names an unknown field in a reply: its quoted name when it is
// short and plain, else no name (the reply does not echo what it cannot
// vouch for).
func fieldName(quoted string) string {
	name, err := strconv.Unquote(quoted)
	if err != nil || name == "" || len(name) > 64 || strings.IndexFunc(name, func(r rune) bool {
		return !(r == '_' || r == '-' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) >= 0 {
		return "a field"
	}
	return "field " + strconv.Quote(name)
}

// jsonKind names a Go kind the way a JSON client thinks of it.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "a list"
	case "map", "struct":
		return "an object"
	case "int", "int64", "int32", "uint", "uint32", "uint64", "float64":
		return "a number"
	}
	return "of another type"
}

// problems collects what is wrong with a request's fields.
type problems struct {
	missing []string
	invalid []string
}

// require notes field as missing unless present.
func (p *problems) require(present bool, field string) {
	if !present {
		p.missing = append(p.missing, strconv.Quote(field))
	}
}

// bad notes an invalid field.
func (p *problems) bad(format string, args ...any) {
	p.invalid = append(p.invalid, fmt.Sprintf(format, args...))
}

// err returns nil, or a 400 naming every problem: code missing_field when
// a field is missing, invalid_field otherwise.
func (p *problems) err() error {
	var parts []string
	if len(p.missing) > 0 {
		parts = append(parts, "missing field "+strings.Join(p.missing, ", "))
	}
	parts = append(parts, p.invalid...)
	switch {
	case len(p.missing) > 0:
		return badRequest("missing_field", "%s", strings.Join(parts, "; "))
	case len(p.invalid) > 0:
		return badRequest("invalid_field", "%s", strings.Join(parts, "; "))
	}
	return nil
}

// page reads the limit and after query parameters of a list.
func page(c *call) (store.Page, error) {
	q := c.r.URL.Query()
	p := store.Page{After: q.Get("after")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxLimit {
			return p, badRequest("invalid_field", "query parameter limit must be a whole number from 1 to %d", store.MaxLimit)
		}
		p.Limit = n
	}
	return p, nil
}

// boolParam reads an optional true/false query parameter.
func boolParam(c *call, name string) (*bool, error) {
	v := c.r.URL.Query().Get(name)
	if v == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, badRequest("invalid_field", "query parameter %s must be true or false", name)
	}
	return &b, nil
}

// listed answers one page of a list, {"<name>":[...],"next":"<cursor>"}
// (next is "" on the last page), reading the page from the query.
func listed[T, V any](w http.ResponseWriter, c *call, name string, view func(T) V,
	list func(p store.Page) ([]T, string, error)) error {
	pg, err := page(c)
	if err != nil {
		return err
	}
	items, next, err := list(pg)
	if err != nil {
		return storeError(name, err)
	}
	return reply(w, http.StatusOK, map[string]any{name: mapViews(items, view), "next": next})
}
