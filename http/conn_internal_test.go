package http

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestConnLimiter_RefusesWhenAllBusy: at the cap with no idle connection, a
// new connection is answered 503 in JSON and closed; once one is idle, a
// new connection takes its place.
func TestConnLimiter_RefusesWhenAllBusy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newConnLimiter(ln, 1)
	defer l.Close()
	accepted := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()

	busy, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	first := <-accepted
	l.connState(first, http.StateActive)

	refused, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer refused.Close()
	refused.SetDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(refused), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("X-Request-Id") == "" ||
		!strings.Contains(string(body), `"error_code":"KOOPHONE.API.9999"`) {
		t.Fatalf("refused connection got %d %v %s", resp.StatusCode, resp.Header, body)
	}

	// The busy connection goes idle: the next one replaces it.
	l.connState(first, http.StateIdle)
	next, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	<-accepted
	busy.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := busy.Read(make([]byte, 1)); err == nil {
		t.Fatal("the idle connection was not closed to admit the new one")
	}
}

// TestConnLimiter_TLS: under TLS, net/http reports states for the
// *tls.Conn wrapping the limiter's connection; an idle TLS connection is
// still the one shed to admit a new one, and a connection over the cap with
// none idle is closed without a plain-text answer.
func TestConnLimiter_TLS(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newConnLimiter(ln, 1)
	l.tls = true
	defer l.Close()
	accepted := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()

	busy, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	first := tls.Server(<-accepted, &tls.Config{})
	l.connState(first, http.StateActive)

	refused, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer refused.Close()
	refused.SetDeadline(time.Now().Add(5 * time.Second))
	if n, err := refused.Read(make([]byte, 64)); err == nil || n > 0 {
		t.Fatalf("a TLS connection over the cap read %d bytes (%v), want it closed without an answer", n, err)
	}

	l.connState(first, http.StateIdle)
	next, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	select {
	case <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("the new connection was not admitted in place of the idle TLS connection")
	}
	busy.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := busy.Read(make([]byte, 1)); err == nil {
		t.Fatal("the idle TLS connection was not closed to admit the new one")
	}
}
