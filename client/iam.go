package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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
		var iamErr struct {
			Error struct {
				Code    int    `json:"code"`
				Title   string `json:"title"`
				Message string `json:"message"`
			} `json:"error"`
			envelope
		}
		if json.Unmarshal(raw, &iamErr) == nil {
			if iamErr.Error.Message != "" {
				return nil, &phonefleet.Error{Code: phonefleet.EUnauthorized, Message: iamErr.Error.Message}
			} else if iamErr.Code != "" {
				return nil, &phonefleet.Error{Code: iamErr.Code, Message: iamErr.envelope.Message}
			}
		}
		return nil, fmt.Errorf("POST /v3/auth/tokens: HTTP %d: %.200q", resp.StatusCode, raw)
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
