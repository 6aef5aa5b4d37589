// Package client is a Go client for phonefleet's API: the KooPhone Open API
// calls, phonefleet's own read-only lists, and the IAM token call.
//
// Every call takes a context. An error answer is returned as a
// *phonefleet.Error carrying the KooPhone error code (use
// phonefleet.ErrorCode); a transport failure is returned as is.
//
// Calls are retried only where a second attempt cannot do anything the
// first did not: reads, unsubscribe and assign (a repeated call is a
// no-op), and purchases, which carry the same X-Request-Id on every attempt
// so the server answers a retry with the first purchase's order. Unassign,
// reboot and reset are never retried. A retry follows a transport error, a
// 502/503/504, a 429 (after its Retry-After) or an internal error whose
// outcome the server could not tell.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/phonefleet/phonefleet"
)

// Client calls one phonefleet server with one token.
type Client struct {
	// Endpoint is the server's base URL, such as http://127.0.0.1:8080.
	Endpoint string
	// Token is sent as X-Auth-Token.
	Token string
	// HTTPClient defaults to http.DefaultClient.
	HTTPClient *http.Client
	// MaxAttempts bounds the attempts of a call that may be retried
	// (default 3; 1 disables retries).
	MaxAttempts int
	// Backoff is the wait before the first retry, doubled per retry
	// (default 200ms).
	Backoff time.Duration
}

// New returns a client for endpoint with token.
func New(endpoint, token string) *Client {
	return &Client{Endpoint: strings.TrimRight(endpoint, "/"), Token: token}
}

// maxRetryAfter caps how long a 429's Retry-After makes a call wait.
const maxRetryAfter = 10 * time.Second

// call is one API call.
type call struct {
	method, path string
	query        url.Values
	body         any               // sent as JSON when not nil
	header       map[string]string // extra headers
	retry        bool              // safe to send again
	noToken      bool
	// sign, if set, returns the X-Phonefleet-Signature of each attempt
	// (method, path, body), so a retry carries a new signature.
	sign func(method, path string, body []byte) string
}

// envelope is every phonefleet answer's outer shape.
type envelope struct {
	Data    json.RawMessage `json:"data"`
	Code    string          `json:"error_code"`
	Message string          `json:"error_msg"`
}

// do sends c (with retries when c.retry) and decodes data into out (if not
// nil). It returns the last response's headers.
func (cl *Client) do(ctx context.Context, c call, out any) (http.Header, error) {
	var body []byte
	if c.body != nil {
		var err error
		if body, err = json.Marshal(c.body); err != nil {
			return nil, err
		}
	}
	// One request ID for every attempt, so the server recognises a retried
	// purchase.
	requestID := c.header["X-Request-Id"]
	if requestID == "" {
		requestID = "cli-" + rand.Text()
	}
	attempts := 1
	if c.retry {
		attempts = cl.MaxAttempts
		if attempts <= 0 {
			attempts = 3
		}
	}
	wait := cl.Backoff
	if wait <= 0 {
		wait = 200 * time.Millisecond
	}
	var lastErr error
	var header http.Header
	for i := 0; i < attempts; i++ {
		if i > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return header, errors.Join(ctx.Err(), lastErr)
			case <-t.C:
			}
			wait *= 2
		}
		var again bool
		var retryAfter time.Duration
		header, again, retryAfter, lastErr = cl.once(ctx, c, body, requestID, out)
		if lastErr == nil || !again {
			return header, lastErr
		}
		if retryAfter > wait {
			wait = min(retryAfter, maxRetryAfter)
		}
	}
	return header, lastErr
}

// once sends one attempt of c. again reports whether the failure is one a
// safe call may retry.
func (cl *Client) once(ctx context.Context, c call, body []byte, requestID string, out any) (header http.Header, again bool, retryAfter time.Duration, err error) {
	u := strings.TrimRight(cl.Endpoint, "/") + c.path
	if len(c.query) > 0 {
		u += "?" + c.query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, u, rd)
	if err != nil {
		return nil, false, 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cl.Token != "" && !c.noToken {
		req.Header.Set("X-Auth-Token", cl.Token)
	}
	req.Header.Set("X-Request-Id", requestID)
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	if c.sign != nil {
		req.Header.Set(phonefleet.SignatureHeader, c.sign(c.method, req.URL.EscapedPath(), body))
	}
	hc := cl.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, ctx.Err() == nil, 0, fmt.Errorf("%s %s: %w", c.method, c.path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.Header, ctx.Err() == nil, 0, fmt.Errorf("%s %s: read answer: %w", c.method, c.path, err)
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil || env.Code == "" {
		again = resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusGatewayTimeout
		return resp.Header, again, 0, fmt.Errorf("%s %s: HTTP %d with a body that is not phonefleet's: %.200q", c.method, c.path, resp.StatusCode, raw)
	}
	if env.Code != phonefleet.ECodeOK {
		e := &phonefleet.Error{Code: env.Code, Message: env.Message}
		switch {
		case resp.StatusCode == http.StatusTooManyRequests:
			secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			return resp.Header, true, time.Duration(secs) * time.Second, e
		case resp.StatusCode >= 500:
			// Nothing changed, or the outcome is unknown: either way a
			// safe call may be sent again.
			return resp.Header, true, 0, e
		}
		return resp.Header, false, 0, e
	}
	if out != nil {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return resp.Header, false, 0, fmt.Errorf("%s %s: decode data: %w", c.method, c.path, err)
		}
	}
	return resp.Header, false, 0, nil
}
