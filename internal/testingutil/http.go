package testingutil

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// Response is one answer of the KooPhone API.
type Response struct {
	Method, URL string // of the request
	Status      int    // 0 when no answer arrived
	Header      http.Header
	Raw         []byte         // the body as received
	Body        map[string]any // Raw decoded when it is a JSON object, else nil
}

// Code returns the envelope's error_code.
func (r *Response) Code() string { s, _ := r.Body["error_code"].(string); return s }

// Msg returns the envelope's error_msg.
func (r *Response) Msg() string { s, _ := r.Body["error_msg"].(string); return s }

// Data returns the envelope's data as an object, or nil.
func (r *Response) Data() map[string]any { m, _ := r.Body["data"].(map[string]any); return m }

// decodeData decodes the envelope's data into v.
func (r *Response) decodeData(v any) error {
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(r.Raw, &env); err != nil {
		return err
	}
	return json.Unmarshal(env.Data, v)
}

// Do sends one request: token (if not empty) as X-Auth-Token, contentType
// (if not empty) as Content-Type, body, and headers as extra name, value
// pairs. A body that starts with '{' is decoded into Body; one that does not
// decode is an error. The Response is never nil, even with an error.
func Do(ctx context.Context, method, url, token, contentType string, body []byte, headers ...string) (*Response, error) {
	r := &Response{Method: method, URL: url}
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return r, err
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	r.Status, r.Header = resp.StatusCode, resp.Header
	if r.Raw, err = io.ReadAll(resp.Body); err != nil {
		return r, err
	}
	if len(r.Raw) > 0 && r.Raw[0] == '{' {
		if err := json.Unmarshal(r.Raw, &r.Body); err != nil {
			return r, fmt.Errorf("decode %s: %w", r.Raw, err)
		}
	}
	return r, nil
}

// MustDo is Do that fails the test on a transport error or an answer whose
// body is not a JSON object. It waits a minute at most.
func MustDo(tb testing.TB, method, url, token, contentType string, body []byte, headers ...string) *Response {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := Do(ctx, method, url, token, contentType, body, headers...)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	} else if r.Body == nil {
		tb.Fatalf("%s %s: body %q is not a JSON object", method, url, r.Raw)
	}
	return r
}
