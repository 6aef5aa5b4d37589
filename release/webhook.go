package release

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/phonefleet/phonefleet"
)

// Webhook protocol constants (contract §6).
const (
	EventType        = "instance.release"
	HeaderEventID    = "X-Phonefleet-Event-Id"
	HeaderSignature  = "X-Phonefleet-Signature"
	SignaturePrefix  = "sha256="
	WebhookTimeout   = 10 * time.Second
	maxErrorExcerpt  = 200 // bytes of a failed response body quoted in the error
	maxResponseDrain = 64 << 10
)

// Event is the JSON body of a release webhook. It is built from the job
// alone, so every retry sends the same bytes.
type Event struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	InstanceID string `json:"instance_id"`
	TenantID   string `json:"tenant_id"`
	RequestID  string `json:"request_id"`
	CreatedAt  string `json:"created_at"`
}

// NewEvent returns the release event of job.
func NewEvent(job *phonefleet.ReleaseJob) *Event {
	return &Event{
		ID: job.EventID, Type: EventType, InstanceID: job.InstanceID, TenantID: job.TenantID,
		RequestID: job.RequestID, CreatedAt: job.CreatedAt.UTC().Format(time.RFC3339),
	}
}

// WebhookDriver POSTs a signed release event to the operator's data plane.
// Any 2xx answer within the client's timeout confirms the release.
type WebhookDriver struct {
	URL    string
	Secret string
	// Client sends the request; nil means a client with a 10 s timeout that
	// does not follow redirects.
	Client *http.Client
	// Now is the clock used to time deliveries; nil means time.Now.
	Now func() time.Time
}

// NewWebhookDriver returns a driver that POSTs to url, signing with secret,
// with a 10 s timeout.
func NewWebhookDriver(url, secret string) *WebhookDriver {
	return &WebhookDriver{URL: url, Secret: secret, Client: newWebhookClient(), Now: time.Now}
}

// newWebhookClient returns the default client: a 10 s timeout for the whole
// exchange, and a redirect counts as a failed delivery rather than being
// followed (a POST turned into a GET would "succeed" without releasing).
func newWebhookClient() *http.Client {
	return &http.Client{
		Timeout:       WebhookTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

var defaultWebhookClient = newWebhookClient()

// Release implements Driver: it POSTs the job's event and returns nil only
// for a 2xx answer. Errors name the status and quote the start of the body.
func (d *WebhookDriver) Release(ctx context.Context, job *phonefleet.ReleaseJob) error {
	if d.URL == "" {
		return errors.New("webhook url not set")
	}
	body, err := json.Marshal(NewEvent(job))
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("new webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "phonefleet-release")
	req.Header.Set(HeaderEventID, job.EventID)
	req.Header.Set(HeaderSignature, Sign([]byte(d.Secret), body))

	client, now := d.Client, d.Now
	if client == nil {
		client = defaultWebhookClient
	}
	if now == nil {
		now = time.Now
	}
	start := now()
	resp, err := client.Do(req)
	if err != nil {
		if d := now().Sub(start).Round(time.Millisecond); d > 0 {
			return fmt.Errorf("post webhook after %s: %w", d, err)
		}
		return fmt.Errorf("post webhook: %w", err)
	}
	defer resp.Body.Close()

	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		// Drain a little so the connection can be reused; the answer is already in.
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseDrain))
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorExcerpt))
	return fmt.Errorf("webhook status %d: %s", resp.StatusCode, excerpt(b))
}

// excerpt returns b as a short single-line string for an error message.
func excerpt(b []byte) string {
	for i := 0; i < utf8.UTFMax && len(b) > 0 && !utf8.Valid(b); i++ {
		b = b[:len(b)-1] // the limit may have cut a character in half
	}
	s := strings.Join(strings.Fields(cleanText(string(b), maxErrorExcerpt)), " ")
	if s == "" {
		return "(empty body)"
	}
	return s
}

// Sign returns the X-Phonefleet-Signature value of body:
// "sha256=" and the hex HMAC-SHA256 of body keyed with secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return SignaturePrefix + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether header is the valid signature of body under secret.
// The comparison runs in constant time.
func Verify(secret, body []byte, header string) bool {
	hexSum, ok := strings.CutPrefix(header, SignaturePrefix)
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}
