package postgres_test

import (
	"encoding/binary"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy is a TCP proxy between phonefleet and PostgreSQL that can freeze a
// connection's server-to-client traffic right after the client sent COMMIT:
// the server commits, but its answer never reaches the client, as when a
// network path dies at the worst moment. It reads the client's messages of
// the PostgreSQL protocol (plain text only: sslmode=disable).
type Proxy struct {
	Addr   string
	target string

	// FreezeEvery, when n > 0, freezes the connection of every n-th COMMIT
	// the proxy sees (0: none).
	FreezeEvery atomic.Int64
	// Silent, when set, stops forwarding in both directions on every
	// connection, as a server that stopped answering.
	Silent atomic.Bool

	// Cut makes a frozen connection end on the client's side at once,
	// instead of leaving it waiting: the client learns right away that its
	// commit answer is lost, while the COMMIT itself may still be on its
	// way to the server (see CommitDelay).
	Cut atomic.Bool
	// CommitDelay, when set, is how long a COMMIT whose connection is
	// frozen stays in the proxy before it is forwarded: a slow path, so
	// that reading back may run while the COMMIT is still in flight.
	CommitDelay func() time.Duration

	commits atomic.Int64
	Frozen  atomic.Int64 // connections frozen after a COMMIT

	ln     net.Listener
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
	wg     sync.WaitGroup
}

// MustStartProxy starts a proxy on 127.0.0.1 to the server of dbURL and
// returns it; ProxyURL gives dbURL through it. It stops when the test ends.
func MustStartProxy(tb testing.TB, dbURL string) *Proxy {
	tb.Helper()
	return MustStartProxyAt(tb, dbURL, "127.0.0.1:0")
}

// MustStartProxyAt is MustStartProxy listening on addr.
func MustStartProxyAt(tb testing.TB, dbURL, addr string) *Proxy {
	tb.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proxy{Addr: ln.Addr().String(), target: u.Host, ln: ln}
	p.wg.Add(1)
	go p.accept()
	tb.Cleanup(p.Close)
	return p
}

// URL returns dbURL with its host replaced by the proxy's.
func (p *Proxy) URL(tb testing.TB, dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	u.Host = p.Addr
	return u.String()
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			client.Close()
			server.Close()
			return
		}
		p.conns = append(p.conns, client, server)
		p.wg.Add(2)
		p.mu.Unlock()
		c := &proxyConn{p: p, client: client, server: server, frozen: make(chan struct{}), clientGone: make(chan struct{})}
		go c.clientToServer()
		go c.serverToClient()
	}
}

type proxyConn struct {
	p              *Proxy
	client, server net.Conn
	freezeOnce     sync.Once
	frozen         chan struct{} // closed once server-to-client is frozen
	clientGone     chan struct{} // closed once the client's stream ended
}

// clientToServer forwards the client's messages one by one; after a COMMIT
// it may freeze the way back. When the client goes away, so does the
// server connection (the server sees the end of the stream).
func (c *proxyConn) clientToServer() {
	defer c.p.wg.Done()
	defer c.server.Close()
	defer close(c.clientGone)
	// The startup message has no type byte.
	var lenBuf [4]byte
	if _, err := io.ReadFull(c.client, lenBuf[:]); err != nil {
		return
	}
	n := binary.BigEndian.Uint32(lenBuf[:])
	startup := make([]byte, n)
	copy(startup, lenBuf[:])
	if _, err := io.ReadFull(c.client, startup[4:]); err != nil {
		return
	}
	if c.p.Silent.Load() {
		c.freeze()
		io.Copy(io.Discard, c.client)
		return
	}
	if _, err := c.server.Write(startup); err != nil {
		return
	}
	for {
		var head [5]byte
		if _, err := io.ReadFull(c.client, head[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(head[1:])
		msg := make([]byte, 1+n)
		copy(msg, head[:])
		if _, err := io.ReadFull(c.client, msg[5:]); err != nil {
			return
		}
		if c.p.Silent.Load() {
			c.freeze()
			continue // swallowed: the server never hears of it
		}
		if head[0] == 'Q' && strings.EqualFold(strings.TrimRight(string(msg[5:]), "\x00; "), "commit") {
			k := c.p.commits.Add(1)
			if every := c.p.FreezeEvery.Load(); every > 0 && k%every == 0 {
				c.p.Frozen.Add(1)
				c.freeze()
				if c.p.Cut.Load() {
					c.client.Close()
				}
				if c.p.CommitDelay != nil {
					time.Sleep(c.p.CommitDelay())
				}
			}
		}
		if _, err := c.server.Write(msg); err != nil {
			return
		}
	}
}

func (c *proxyConn) freeze() { c.freezeOnce.Do(func() { close(c.frozen) }) }

// serverToClient forwards the server's bytes until the connection is
// frozen; then it reads and drops them (the server is never blocked, the
// client never hears back).
func (c *proxyConn) serverToClient() {
	defer c.p.wg.Done()
	defer c.client.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := c.server.Read(buf)
		if n > 0 {
			select {
			case <-c.frozen:
			default:
				if c.p.Silent.Load() {
					c.freeze()
					break
				}
				if _, werr := c.client.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			// Keep the client connection open while frozen: a dead path
			// does not send FIN.
			select {
			case <-c.frozen:
				<-c.clientGone
			default:
			}
			return
		}
	}
}
