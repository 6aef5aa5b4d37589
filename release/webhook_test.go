package release

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/phonefleet/phonefleet"
)

func TestSign(t *testing.T) {
	secret, body := []byte("s3cret"), []byte(`{"id":"evt_1","type":"instance.release"}`)
	at := time.Unix(1765000000, 0)

	// Computed independently of Sign.
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("1765000000.POST /hook." + string(body)))
	want := "t=1765000000,v1=" + hex.EncodeToString(m.Sum(nil))

	if got := Sign(secret, at, "POST", "/hook", body); got != want {
		t.Fatalf("Sign=%q, want %q", got, want)
	}
}

func TestVerify(t *testing.T) {
	secret, body := []byte("s3cret"), []byte(`{"id":"evt_1"}`)
	now := time.Unix(1765000000, 0)
	sig := Sign(secret, now, "POST", "/hook", body)

	for _, tt := range []struct {
		name   string
		secret []byte
		body   []byte
		path   string
		header string
		now    time.Time
		want   bool
	}{
		{"OK", secret, body, "/hook", sig, now, true},
		{"UppercaseHex", secret, body, "/hook", strings.ToUpper(sig[:strings.Index(sig, ",")+1]) + strings.ToUpper(sig[strings.Index(sig, ",")+4:]), now, false},
		{"TamperedBody", secret, []byte(`{"id":"evt_2"}`), "/hook", sig, now, false},
		{"OtherPath", secret, body, "/other", sig, now, false},
		{"WrongSecret", []byte("other"), body, "/hook", sig, now, false},
		{"Late", secret, body, "/hook", sig, now.Add(6 * time.Minute), false},
		{"BodyOnlyHMAC", secret, body, "/hook", "sha256=" + sig[strings.Index(sig, "v1=")+3:], now, false},
		{"Truncated", secret, body, "/hook", sig[:len(sig)-2], now, false},
		{"Empty", secret, body, "/hook", "", now, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Verify(tt.secret, tt.header, "POST", tt.path, tt.body, tt.now); (err == nil) != tt.want {
				t.Fatalf("Verify=%v, want ok=%v", err, tt.want)
			}
		})
	}
}

func testJob() *phonefleet.Command {
	return &phonefleet.Command{
		ID: "job_1", Type: phonefleet.CommandRelease, InstanceID: "ab12cd34", TenantID: "tn1", TenantName: "acme", EventID: "evt_abc",
		RequestID: "req-1", State: phonefleet.JobStatePending,
		CreatedAt: time.Date(2026, 3, 4, 5, 6, 7, 890, time.FixedZone("X", 3600)),
	}
}

func TestWebhookDriver_Release(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		type delivery struct {
			method, path, contentType, eventID, deliveryID, signature string
			body                                                      []byte
		}
		got := make(chan delivery, 3)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			got <- delivery{r.Method, r.URL.EscapedPath(), r.Header.Get("Content-Type"), r.Header.Get(HeaderEventID),
				r.Header.Get(HeaderDeliveryID), r.Header.Get(HeaderSignature), b}
			w.WriteHeader(http.StatusNoContent)
		}))
		defer srv.Close()

		// Each attempt is signed at its own time: a second apart here.
		clock := time.Unix(1765000000, 0)
		d := NewWebhookDriver(srv.URL, "s3cret")
		d.Now = func() time.Time { clock = clock.Add(time.Second); return clock }
		for range 2 {
			if err := deliver(d, context.Background(), testJob()); err != nil {
				t.Fatalf("Release: %v", err)
			}
		}
		// A manual retry is a new delivery.
		retried := testJob()
		retried.Deliveries = 2
		if err := deliver(d, context.Background(), retried); err != nil {
			t.Fatalf("Release: %v", err)
		}
		first, second, third := <-got, <-got, <-got
		if first.method != http.MethodPost {
			t.Fatalf("Method=%q, want POST", first.method)
		} else if first.contentType != "application/json" {
			t.Fatalf("Content-Type=%q, want application/json", first.contentType)
		} else if first.eventID != "evt_abc" || third.eventID != "evt_abc" {
			t.Fatalf("%s=%q, %q, want evt_abc", HeaderEventID, first.eventID, third.eventID)
		} else if first.deliveryID != "evt_abc.1" || second.deliveryID != first.deliveryID || third.deliveryID != "evt_abc.2" {
			t.Fatalf("%s=%q, %q, %q, want evt_abc.1 twice (automatic retry), then evt_abc.2", HeaderDeliveryID, first.deliveryID, second.deliveryID, third.deliveryID)
		} else if _, err := Verify([]byte("s3cret"), first.signature, "POST", first.path, first.body, clock); err != nil || first.path != "/" {
			t.Fatalf("signature %q does not verify POST %s %s: %v", first.signature, first.path, first.body, err)
		} else if _, err := Verify([]byte("s3cret"), second.signature, "POST", "/", second.body, clock); err != nil {
			t.Fatalf("retry's signature %q does not verify: %v", second.signature, err)
		} else if string(second.body) != string(first.body) || second.signature == first.signature {
			t.Fatalf("retry sent %s (%s), want the same body as %s signed anew (%s)", second.body, second.signature, first.body, first.signature)
		}

		var ev map[string]any
		if err := json.Unmarshal(first.body, &ev); err != nil {
			t.Fatalf("body %s: %v", first.body, err)
		}
		want := map[string]any{
			"id": "evt_abc", "type": "instance.release", "job_id": "job_1", "instance_id": "ab12cd34",
			"tenant_id": "tn1", "request_id": "req-1", "created_at": "2026-03-04T04:06:07Z",
		}
		if len(ev) != len(want) {
			t.Fatalf("body has %d fields, want %d: %s", len(ev), len(want), first.body)
		}
		for k, v := range want {
			if ev[k] != v {
				t.Fatalf("body[%q]=%v, want %v", k, ev[k], v)
			}
		}
	})

	t.Run("AnyStatus2xx", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusAccepted)
		}))
		defer srv.Close()
		if err := deliver(NewWebhookDriver(srv.URL, "k"), context.Background(), testJob()); err != nil {
			t.Fatalf("Release: %v", err)
		}
	})

	t.Run("ErrStatus", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "upstream\n  busy"+strings.Repeat("x", 1000))
		}))
		defer srv.Close()
		err := deliver(NewWebhookDriver(srv.URL, "k"), context.Background(), testJob())
		if err == nil {
			t.Fatal("Release=nil, want an error for 503")
		}
		if msg := err.Error(); !strings.Contains(msg, "503") || !strings.Contains(msg, "upstream busy") {
			t.Fatalf("error %q, want the status and a body excerpt", msg)
		} else if len(msg) > 300 {
			t.Fatalf("error is %d bytes, want a short excerpt", len(msg))
		}
	})

	t.Run("ErrStatusBinaryBody", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte("\x00\xff\xfegateway"))
		}))
		defer srv.Close()
		err := deliver(NewWebhookDriver(srv.URL, "k"), context.Background(), testJob())
		if err == nil || !utf8.ValidString(err.Error()) || strings.ContainsRune(err.Error(), 0) {
			t.Fatalf("Release=%q, want an error that is valid UTF-8 without NUL", err)
		}
	})

	t.Run("ErrRedirect", func(t *testing.T) {
		followed := make(chan struct{}, 1)
		mux := http.NewServeMux()
		mux.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) })
		mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) { followed <- struct{}{} })
		srv := httptest.NewServer(mux)
		defer srv.Close()
		err := deliver(NewWebhookDriver(srv.URL+"/hook", "k"), context.Background(), testJob())
		if err == nil || !strings.Contains(err.Error(), "302") {
			t.Fatalf("Release=%v, want a 302 error", err)
		}
		select {
		case <-followed:
			t.Fatal("the redirect was followed")
		default:
		}
	})

	t.Run("ErrTimeout", func(t *testing.T) {
		done := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done(): // the client gave up
			case <-done:
			}
		}))
		defer srv.Close()
		defer close(done)

		d := NewWebhookDriver(srv.URL, "k")
		d.Client.Timeout = 100 * time.Millisecond
		err := deliver(d, context.Background(), testJob())
		if err == nil || !strings.Contains(err.Error(), "Timeout") {
			t.Fatalf("Release=%v, want a timeout error", err)
		}
	})

	t.Run("ErrRefused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		url := "http://" + ln.Addr().String()
		ln.Close()
		if err := deliver(NewWebhookDriver(url, "k"), context.Background(), testJob()); err == nil {
			t.Fatal("Release=nil, want an error for a closed port")
		}
	})

	t.Run("DefaultClient", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		defer srv.Close()
		d := &WebhookDriver{URL: srv.URL, Secret: "k"}
		if err := deliver(d, context.Background(), testJob()); err != nil {
			t.Fatalf("Release with zero-value client: %v", err)
		}
		if got := defaultWebhookClient.Timeout; got != 10*time.Second {
			t.Fatalf("default timeout=%v, want 10s", got)
		}
		if got := NewWebhookDriver("u", "s").Client.Timeout; got != 10*time.Second {
			t.Fatalf("NewWebhookDriver timeout=%v, want 10s", got)
		}
	})
}

func TestNoopDriver(t *testing.T) {
	if err := deliver(NoopDriver{}, context.Background(), testJob()); err != nil {
		t.Fatalf("Release=%v, want nil", err)
	}
}

// deliver calls d.Deliver and keeps only the error.
func deliver(d Driver, ctx context.Context, cmd *phonefleet.Command) error {
	_, err := d.Deliver(ctx, cmd)
	return err
}

// TestWebhookDriver_Accepted: 202 means the data plane took the command
// and reports later; 200 and 204 confirm it at once.
func TestWebhookDriver_Accepted(t *testing.T) {
	for _, tc := range []struct {
		status   int
		accepted bool
	}{{http.StatusAccepted, true}, {http.StatusOK, false}, {http.StatusNoContent, false}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(tc.status) }))
		accepted, err := NewWebhookDriver(srv.URL, "k").Deliver(context.Background(), testJob())
		srv.Close()
		if err != nil || accepted != tc.accepted {
			t.Fatalf("status %d: accepted=%v err=%v, want %v", tc.status, accepted, err, tc.accepted)
		}
	}
}

// TestNewEvent_Types: every command type has its webhook type, the job ID,
// and, for a wipe only, the user.
func TestNewEvent_Types(t *testing.T) {
	for _, typ := range phonefleet.CommandTypes {
		job := testJob()
		job.Type = typ
		if typ == phonefleet.CommandWipeUserData {
			job.UserID = "alice"
		}
		b, err := json.Marshal(NewEvent(job))
		if err != nil {
			t.Fatal(err)
		}
		var ev map[string]any
		json.Unmarshal(b, &ev)
		if ev["type"] != "instance."+string(typ) || ev["job_id"] != "job_1" {
			t.Fatalf("%s event=%s", typ, b)
		}
		if _, has := ev["user_id"]; has != (typ == phonefleet.CommandWipeUserData) {
			t.Fatalf("%s event=%s: user_id only with a wipe", typ, b)
		}
	}
}
