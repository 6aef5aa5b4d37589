package http

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/phonefleet/phonefleet"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Connection limits.
const (
	// DefaultMaxConns is the MaxConns of a server that is given none.
	DefaultMaxConns = 10000

	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request.
	IdleTimeout = 30 * time.Second
)

// Metrics of the connection limit.
var (
	connsOpen = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "phonefleet_http_connections",
		Help: "Client connections open on the API listener.",
	})
	connsShed = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "phonefleet_http_connections_shed_total",
		Help: "Connections closed because the connection limit was reached: idle (an idle keep-alive connection closed to admit a new one) or refused (a new one answered 503: every connection was busy).",
	}, []string{"reason"})
)

// connLimiter caps the open connections of a listener. At the cap, a new
// connection first takes the place of the longest-idle keep-alive
// connection; only when every connection is busy is it answered 503 and
// closed. Idle clients therefore cannot lock out new ones, and the process
// keeps file descriptors for its database and webhooks.
type connLimiter struct {
	net.Listener
	max int
	tls bool // connections speak TLS: refuse by closing

	mu   sync.Mutex
	open int
	idle map[*limitedConn]time.Time // idle keep-alive connections, since when
}

func newConnLimiter(ln net.Listener, max int) *connLimiter {
	return &connLimiter{Listener: ln, max: max, idle: make(map[*limitedConn]time.Time)}
}

// Accept returns the next connection within the cap.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		if l.open >= l.max {
			if victim := l.longestIdle(); victim != nil {
				delete(l.idle, victim)
				l.mu.Unlock()
				victim.Close() // frees its slot
				connsShed.WithLabelValues("idle").Inc()
				l.mu.Lock()
			}
		}
		if l.open >= l.max {
			l.mu.Unlock()
			connsShed.WithLabelValues("refused").Inc()
			if l.tls {
				c.Close()
			} else {
				refuseConn(c)
			}
			continue
		}
		l.open++
		connsOpen.Inc()
		l.mu.Unlock()
		return &limitedConn{Conn: c, l: l}, nil
	}
}

// longestIdle returns the connection idle for longest, or nil. The caller
// holds l.mu.
func (l *connLimiter) longestIdle() *limitedConn {
	var victim *limitedConn
	var since time.Time
	for c, t := range l.idle {
		if victim == nil || t.Before(since) {
			victim, since = c, t
		}
	}
	return victim
}

// connState is the http.Server's ConnState hook: it tracks which
// connections are idle.
func (l *connLimiter) connState(c net.Conn, state http.ConnState) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if state == http.StateIdle {
		l.idle[lc] = time.Now()
	} else {
		delete(l.idle, lc)
	}
}

// refuseConn answers a connection over the cap with 503 and closes it,
// without reading its request.
func refuseConn(c net.Conn) {
	c.SetWriteDeadline(time.Now().Add(time.Second))
	c.Write(plainErrorJSON(http.StatusServiceUnavailable, phonefleet.EInternal,
		"too many connections; retry later", "Retry-After: 1\r\n"))
	c.Close()
}

// limitedConn is a connection counted by its connLimiter. It also turns
// the plain-text error answers that net/http writes by itself (oversized
// headers, a malformed request line, header or Content-Length) into the
// API's JSON error envelope with an X-Request-Id.
type limitedConn struct {
	net.Conn
	l         *connLimiter
	closeOnce sync.Once
}

// Close closes the connection and frees its slot once.
func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() {
		c.l.mu.Lock()
		c.l.open--
		delete(c.l.idle, c)
		c.l.mu.Unlock()
		connsOpen.Dec()
	})
	return err
}

// netHTTPErrorHeaders ends the headers of the error answers net/http writes
// itself, before any handler runs.
var netHTTPErrorHeaders = []byte("\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n")

// Write passes handler answers through and rewrites net/http's own
// plain-text error answers as JSON.
func (c *limitedConn) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, []byte("HTTP/1.1 4")) || bytes.HasPrefix(p, []byte("HTTP/1.1 5")) {
		if i := bytes.Index(p, netHTTPErrorHeaders); i > 0 {
			if status, err := strconv.Atoi(string(p[9:12])); err == nil {
				text := string(p[i+len(netHTTPErrorHeaders):])
				if _, err := c.Conn.Write(plainErrorJSON(status, phonefleet.EInvalid, netHTTPMessage(status, text), "")); err != nil {
					return 0, err
				}
				return len(p), nil
			}
		}
	}
	return c.Conn.Write(p)
}

// netHTTPMessage turns net/http's text for an error answer into the API's
// message.
func netHTTPMessage(status int, text string) string {
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		return fmt.Sprintf("request headers must be at most %d bytes", maxHeaderBytes)
	}
	// "400 Bad Request: invalid header name" and the like.
	if _, after, ok := bytes.Cut([]byte(text), []byte(": ")); ok {
		return "malformed request: " + string(after)
	}
	return "malformed request"
}

// plainErrorJSON returns a whole HTTP/1.1 answer with the error envelope, a
// new X-Request-Id and Connection: close; extraHeaders are raw header lines.
func plainErrorJSON(status int, code, msg, extraHeaders string) []byte {
	body, err := json.Marshal(errorResponse{Code: code, Message: msg})
	if err != nil {
		body = internalErrorBody
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nX-Request-Id: %s\r\nConnection: close\r\n%sContent-Length: %d\r\n\r\n",
		status, http.StatusText(status), rand.Text(), extraHeaders, len(body))
	b.Write(body)
	errorsTotal.WithLabelValues(code).Inc()
	return b.Bytes()
}

// maxHeaderBytes is the server's MaxHeaderBytes.
const maxHeaderBytes = 64 << 10
