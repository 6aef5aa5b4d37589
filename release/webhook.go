package release

import (
	"bytes"
	"context"
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

// Webhook protocol constants.
const (
	EventType        = "instance.release" // the type of a release event
	HeaderEventID    = "X-Phonefleet-Event-Id"
	HeaderDeliveryID = "X-Phonefleet-Delivery-Id"
	HeaderSignature  = phonefleet.SignatureHeader
	WebhookTimeout   = 10 * time.Second
	maxErrorExcerpt  = 200 // bytes of a failed response body quoted in the error
	maxResponseDrain = 64 << 10
)

// Event is the JSON body of a command webhook. It is built from the command
// alone, so every retry sends the same bytes. Type is instance.release,
// instance.reboot, instance.reset or instance.wipe_user_data; UserID is
// only sent with a wipe.
type Event struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	JobID      string `json:"job_id"`
	InstanceID string `json:"instance_id"`
	TenantID   string `json:"tenant_id"`
	UserID     string `json:"user_id,omitempty"`
	RequestID  string `json:"request_id"`
	CreatedAt  string `json:"created_at"`
}

// NewEvent returns the webhook event of cmd.
func NewEvent(cmd *phonefleet.Command) *Event {
	return &Event{
		ID: cmd.EventID, Type: cmd.Type.EventType(), JobID: cmd.ID, InstanceID: cmd.InstanceID, TenantID: cmd.TenantID,
		UserID: cmd.UserID, RequestID: cmd.RequestID, CreatedAt: cmd.CreatedAt.UTC().Format(time.RFC3339),
	}
}

// WebhookDriver POSTs a signed command event to the operator's data plane.
// 202 Accepted within the client's timeout means the data plane took the
// command and reports its outcome later; any other 2xx confirms it.
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

// Deliver implements Driver: it POSTs the command's event; 202 is
// accepted, another 2xx confirms, anything else is an error naming the
// status and quoting the start of the body.
func (d *WebhookDriver) Deliver(ctx context.Context, cmd *phonefleet.Command) (accepted bool, err error) {
	if d.URL == "" {
		return false, errors.New("webhook url not set")
	}
	body, err := json.Marshal(NewEvent(cmd))
	if err != nil {
		return false, fmt.Errorf("encode event: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("new webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "phonefleet-release")
	client, now := d.Client, d.Now
	if client == nil {
		client = defaultWebhookClient
	}
	if now == nil {
		now = time.Now
	}
	start := now()
	req.Header.Set(HeaderEventID, cmd.EventID)
	req.Header.Set(HeaderDeliveryID, cmd.DeliveryID())
	// The path as the request line carries it ("/" for a URL without one).
	path := req.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	req.Header.Set(HeaderSignature, Sign([]byte(d.Secret), start, req.Method, path, body))

	resp, err := client.Do(req)
	if err != nil {
		if d := now().Sub(start).Round(time.Millisecond); d > 0 {
			return false, fmt.Errorf("post webhook after %s: %w", d, err)
		}
		return false, fmt.Errorf("post webhook: %w", err)
	}
	defer resp.Body.Close()

	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		// Drain a little so the connection can be reused; the answer is already in.
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseDrain))
		return resp.StatusCode == http.StatusAccepted, nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorExcerpt))
	return false, fmt.Errorf("webhook status %d: %s", resp.StatusCode, excerpt(b))
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

// Sign returns the X-Phonefleet-Signature value of a delivery (method,
// path without the query, body) sent at time at: see phonefleet.Sign.
func Sign(secret []byte, at time.Time, method, path string, body []byte) string {
	return phonefleet.Sign(secret, at, method, path, body)
}

// Verify checks a delivery's X-Phonefleet-Signature as a receiver does, at
// now: see phonefleet.VerifySignature. A receiver must also refuse a
// signature it accepted before (VerifiedSignature.ReplayKey).
func Verify(secret []byte, header, method, path string, body []byte, now time.Time) (phonefleet.VerifiedSignature, error) {
	return phonefleet.VerifySignature(secret, header, method, path, body, now)
}
