package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/phonefleet/phonefleet"
)

// IAMToken is a token the IAM call issued.
type IAMToken struct {
	Token     string    // the X-Subject-Token header
	ExpiresAt time.Time // from the body's token.expires_at
	UserID    string
	Roles     []string
}

// Login asks for a token for a tenant user (POST /v3/auth/tokens with the
// IAM password body, the call Huawei Cloud's IAM answers). domain is the
// tenant's name. A wrong name or password is a *phonefleet.Error with code
// APIGW.0301 and the server's message. Never retried: failures count
// towards a lockout.
func Login(ctx context.Context, hc *http.Client, endpoint, domain, user, password string) (*IAMToken, error) {
	body := map[string]any{"auth": map[string]any{
		"identity": map[string]any{
			"methods": []string{"password"},
			"password": map[string]any{"user": map[string]any{
				"name": user, "password": password, "domain": map[string]string{"name": domain},
			}},
		},
		"scope": map[string]any{"domain": map[string]string{"name": domain}},
	}}
	buf, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(endpoint, "/")+"/v3/auth/tokens?nocatalog=true", bytes.NewReader(buf))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("POST /v3/auth/tokens: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("POST /v3/auth/tokens: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusCreated {
		return nil, answerError("POST /v3/auth/tokens", resp.StatusCode, raw)
	}
	var ok struct {
		Token struct {
			ExpiresAt string `json:"expires_at"`
			User      struct {
				ID string `json:"id"`
			} `json:"user"`
			Roles []struct {
				Name string `json:"name"`
			} `json:"roles"`
		} `json:"token"`
	}
	if err := json.Unmarshal(raw, &ok); err != nil {
		return nil, fmt.Errorf("POST /v3/auth/tokens: decode answer: %w", err)
	}
	t := &IAMToken{Token: resp.Header.Get("X-Subject-Token"), UserID: ok.Token.User.ID}
	if t.Token == "" {
		return nil, fmt.Errorf("POST /v3/auth/tokens: no X-Subject-Token in the answer")
	}
	t.ExpiresAt, _ = time.Parse(time.RFC3339Nano, ok.Token.ExpiresAt)
	for _, r := range ok.Token.Roles {
		t.Roles = append(t.Roles, r.Name)
	}
	return t, nil
}

// Project is the caller's tenant as IAM's project list shows it.
type Project struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	DomainID string `json:"domain_id"`
	Enabled  bool   `json:"enabled"`
}

// Domain is the caller's tenant as IAM's domain list shows it.
type Domain struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Enabled bool   `json:"enabled"`
}

// Projects answers GET /v3/projects?name=<name>, as Huawei's SDKs ask to
// learn a project ID.
func (cl *Client) Projects(ctx context.Context, name string) ([]Project, error) {
	var out struct {
		Projects []Project `json:"projects"`
	}
	q := url.Values{}
	if name != "" {
		q.Set("name", name)
	}
	err := cl.iamGet(ctx, "/v3/projects", q, &out)
	return out.Projects, err
}

// Domains answers GET /v3/auth/domains.
func (cl *Client) Domains(ctx context.Context) ([]Domain, error) {
	var out struct {
		Domains []Domain `json:"domains"`
	}
	err := cl.iamGet(ctx, "/v3/auth/domains", nil, &out)
	return out.Domains, err
}

// iamGet sends a GET whose answer is in IAM's shape, not the envelope.
func (cl *Client) iamGet(ctx context.Context, path string, q url.Values, out any) error {
	u := strings.TrimRight(cl.Endpoint, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Auth-Token", cl.Token)
	hc := cl.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("GET %s: read answer: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return answerError(path, resp.StatusCode, raw)
	}
	return json.Unmarshal(raw, out)
}

// answerError returns the error an answer of either shape carries.
func answerError(path string, status int, raw []byte) error {
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
		Code    string `json:"error_code"`
		Message string `json:"error_msg"`
	}
	if json.Unmarshal(raw, &e) == nil {
		if e.Code != "" {
			return &phonefleet.Error{Code: e.Code, Message: e.Message}
		} else if e.Error.Message != "" {
			code := phonefleet.EUnauthorized
			if status == http.StatusBadRequest || status == http.StatusRequestEntityTooLarge {
				code = phonefleet.EInvalid
			} else if status == http.StatusTooManyRequests {
				code = phonefleet.ERateLimited
			}
			return &phonefleet.Error{Code: code, Message: e.Error.Message}
		}
	}
	return fmt.Errorf("%s: HTTP %d: %.200q", path, status, raw)
}

// JobReport is the data plane's report on a command it accepted.
type JobReport struct {
	State string `json:"state"` // done or failed
	Error string `json:"error,omitempty"`
}

// ReportJob sends the data plane's report on job jobID (POST
// /v1/phonefleet/dataplane/jobs/{job_id}), signed with the webhook secret
// over its time, method, path and body. Retried when safe, each attempt
// signed anew (a later second than the last, since phonefleet refuses a
// signature it accepted before): a repeated report of the same outcome is
// a no-op.
func ReportJob(ctx context.Context, hc *http.Client, endpoint, secret, jobID string, rep JobReport) error {
	body, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	cl := &Client{Endpoint: endpoint, HTTPClient: hc}
	var last int64
	sign := func(method, path string, body []byte) string {
		t := max(time.Now().Unix(), last+1)
		last = t
		return phonefleet.Sign([]byte(secret), time.Unix(t, 0), method, path, body)
	}
	_, err = cl.do(ctx, call{method: http.MethodPost, path: "/v1/phonefleet/dataplane/jobs/" + url.PathEscape(jobID),
		body: json.RawMessage(body), retry: true, noToken: true, sign: sign}, nil)
	return err
}
