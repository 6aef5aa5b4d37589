package http

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestClientAddress(t *testing.T) {
	lb := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}
	for _, tc := range []struct {
		name    string
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"NoProxies", "192.0.2.1:4711", []string{"198.51.100.1"}, nil, "192.0.2.1"},
		{"PeerNotTrusted", "192.0.2.1:4711", []string{"198.51.100.1"}, lb, "192.0.2.1"},
		{"Forwarded", "10.0.0.1:4711", []string{"198.51.100.1"}, lb, "198.51.100.1"},
		{"NoHeader", "10.0.0.1:4711", nil, lb, "10.0.0.1"},
		{"SpoofedLeft", "10.0.0.1:4711", []string{"203.0.113.5, 198.51.100.1"}, lb, "198.51.100.1"},
		{"ProxyChain", "10.0.0.1:4711", []string{"198.51.100.1, 10.2.3.4", "10.9.9.9"}, lb, "198.51.100.1"},
		{"AllTrusted", "10.0.0.1:4711", []string{"10.1.1.1, 10.2.2.2"}, lb, "10.1.1.1"},
		{"Garbage", "10.0.0.1:4711", []string{"198.51.100.1, nonsense, 10.2.3.4"}, lb, "10.2.3.4"},
		{"GarbageRightmost", "10.0.0.1:4711", []string{"198.51.100.1, unknown"}, lb, "10.0.0.1"},
		{"WithPort", "10.0.0.1:4711", []string{"198.51.100.1:5000"}, lb, "198.51.100.1"},
		{"IPv6", "[2001:db8:ffff::1]:4711", []string{"[2001:db8::7]:80"}, lb, "2001:db8::7"},
		{"MappedPeer", "[::ffff:10.0.0.1]:4711", []string{"198.51.100.1"}, lb, "198.51.100.1"},
		{"MappedForwarded", "10.0.0.1:4711", []string{"::ffff:198.51.100.1"}, lb, "198.51.100.1"},
		{"Empty", "10.0.0.1:4711", []string{""}, lb, "10.0.0.1"},
		{"NoPort", "192.0.2.1", nil, lb, "192.0.2.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := clientAddress(tc.remote, tc.xff, tc.trusted); got != tc.want {
				t.Fatalf("clientAddress(%q, %q)=%q, want %q", tc.remote, tc.xff, got, tc.want)
			}
		})
	}
}

func TestParseTrustedProxies(t *testing.T) {
	got, err := ParseTrustedProxies(" 10.1.2.3/8 , 192.0.2.1, 2001:db8::/32")
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("2001:db8::/32")}
	if err != nil || len(got) != len(want) {
		t.Fatalf("ParseTrustedProxies=%v, %v, want %v", got, err, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("prefix %d=%v, want %v", i, got[i], want[i])
		}
	}
	if got, err := ParseTrustedProxies(""); err != nil || got != nil {
		t.Fatalf(`ParseTrustedProxies("")=%v, %v, want none`, got, err)
	}
	for _, bad := range []string{"10.0.0.0/33", "lb.internal", "10.0.0.0/8,", "fe80::1%eth0", "::ffff:10.0.0.0/104"} {
		if _, err := ParseTrustedProxies(bad); err == nil {
			t.Fatalf("ParseTrustedProxies(%q) succeeded", bad)
		}
	}
}

// FuzzClientAddress checks that any peer and X-Forwarded-For give an
// answer without panicking: the peer's address, or, behind a trusted peer,
// an IP address that is untrusted or the left-most of the chain.
func FuzzClientAddress(f *testing.F) {
	f.Add("10.0.0.1:4711", "198.51.100.1, 10.2.3.4")
	f.Add("192.0.2.1:1", "203.0.113.5")
	f.Add("[::1]:80", "[2001:db8::1]:443, garbage")
	f.Add("10.0.0.1:4711", ",,,")
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		got := clientAddress(remote, []string{xff}, trusted)
		peer := peerAddr(remote)
		if got == peer {
			return
		}
		a, err := netip.ParseAddr(got)
		if err != nil {
			t.Fatalf("clientAddress(%q, %q)=%q, neither the peer %q nor an address", remote, xff, got, peer)
		}
		if ap, err := netip.ParseAddrPort(remote); err != nil || !isTrusted(ap.Addr().Unmap(), trusted) {
			t.Fatalf("clientAddress(%q, %q)=%q from an untrusted peer", remote, xff, a)
		}
	})
}

// FuzzParseTrustedProxies checks that any flag value parses without
// panicking into valid masked prefixes that read back the same, or fails
// naming an entry.
func FuzzParseTrustedProxies(f *testing.F) {
	f.Add("10.0.0.0/8,192.0.2.1")
	f.Add("2001:db8::/32, ::1")
	f.Add("10.0.0.0/33")
	f.Add(",")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTrustedProxies(s)
		if err != nil {
			if !strings.Contains(err.Error(), `"`) {
				t.Fatalf("ParseTrustedProxies(%q): %v names no entry", s, err)
			}
			return
		}
		var parts []string
		for _, p := range got {
			if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() {
				t.Fatalf("ParseTrustedProxies(%q) gave %v", s, p)
			}
			parts = append(parts, p.String())
		}
		again, err := ParseTrustedProxies(strings.Join(parts, ","))
		if err != nil || !slices.Equal(again, got) {
			t.Fatalf("ParseTrustedProxies(%q)=%v reads back as %v, %v", s, got, again, err)
		}
	})
}
