package http

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// The client address of a request is the connection's peer, or, only when
// that peer is a trusted proxy (Server.TrustedProxies), the right-most
// address of X-Forwarded-For that is not itself a trusted proxy. Sign-in
// limits per address and the audit trail use it.

type clientAddrContextKey struct{}

// clientAddr returns the client address that serveHTTP put in the request's
// context, or the peer's if there is none.
func clientAddr(r *http.Request) string {
	if a, ok := r.Context().Value(clientAddrContextKey{}).(string); ok {
		return a
	}
	return peerAddr(r.RemoteAddr)
}

// withClientAddr returns ctx carrying the client address of r.
func (s *Server) withClientAddr(ctx context.Context, r *http.Request) context.Context {
	return context.WithValue(ctx, clientAddrContextKey{}, clientAddress(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), s.TrustedProxies))
}

// clientAddress returns the client address of a request from remoteAddr
// (the peer, "host:port") and its X-Forwarded-For header lines, given the
// trusted proxies. Entries are read right to left: each trusted one is a
// proxy that forwarded the request, the first untrusted one is the client.
// When every entry is trusted, the left-most is the client; an entry that
// is not an address ends the walk at the last trusted hop.
func clientAddress(remoteAddr string, forwardedFor []string, trusted []netip.Prefix) string {
	peer, err := netip.ParseAddrPort(remoteAddr)
	if err != nil || !isTrusted(peer.Addr().Unmap(), trusted) {
		return peerAddr(remoteAddr)
	}
	client := peer.Addr().Unmap()
	for i := len(forwardedFor) - 1; i >= 0; i-- {
		entries := strings.Split(forwardedFor[i], ",")
		for j := len(entries) - 1; j >= 0; j-- {
			a, ok := parseForwarded(entries[j])
			if !ok {
				return client.String()
			}
			client = a
			if !isTrusted(a, trusted) {
				return a.String()
			}
		}
	}
	return client.String()
}

// parseForwarded parses one X-Forwarded-For entry: an IP address, possibly
// with a port ("192.0.2.1:4711", "[2001:db8::1]:4711").
func parseForwarded(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.WithZone("").Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().WithZone("").Unmap(), true
	}
	return netip.Addr{}, false
}

// isTrusted reports whether a is inside one of the trusted prefixes.
func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerAddr is the IP address of remoteAddr ("host:port"), or remoteAddr
// itself if it has no port.
func peerAddr(remoteAddr string) string {
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		return ap.Addr().WithZone("").Unmap().String()
	}
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	return host
}

// ParseTrustedProxies parses serve's --trusted-proxies: CIDRs or single IP
// addresses separated by commas ("10.0.0.0/8,192.0.2.1"); "" is none. The
// error names the entry that is neither.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []netip.Prefix
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		p, err := netip.ParsePrefix(entry)
		if err != nil {
			a, aerr := netip.ParseAddr(entry)
			if aerr != nil || a.Zone() != "" {
				return nil, fmt.Errorf("%q is not a CIDR (such as 10.0.0.0/8) or an IP address", entry)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		} else if p.Addr().Is4In6() {
			return nil, fmt.Errorf("%q is an IPv4-mapped IPv6 CIDR; write it as an IPv4 CIDR", entry)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
