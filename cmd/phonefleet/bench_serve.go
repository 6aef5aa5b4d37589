package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/phonefleet/phonefleet"
)

// serve prepares the tenant as a run would, starts the server and the
// static handler on cfg's addresses, writes the IDs file for wrk, prints how
// to drive both, and serves until ctx is done.
func (c *BenchCommand) serve(ctx context.Context, cfg *benchConfig) (err error) {
	ids, token, err := c.prepare(ctx, cfg)
	if err != nil {
		return err
	}
	static, staticURL, err := startStatic(cfg.staticAddr)
	if err != nil {
		return err
	}
	defer static.Close()
	m, err := c.startServer(ctx, cfg.db, cfg.addr)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := m.Close(); err == nil {
			err = cerr
		}
	}()
	serverURL := m.HTTPServer.URL()

	// The scripts keep, per target port, how far earlier runs got in the
	// file (wrkUsedFile): a new file starts them afresh.
	used := []string{wrkUsedFile(cfg.idsOut, serverURL), wrkUsedFile(cfg.idsOut, staticURL)}
	for _, name := range used {
		os.Remove(name)
	}
	if err := writeWrkIDs(cfg.idsOut, token, ids); err != nil {
		return fmt.Errorf("write --ids: %w", err)
	}
	defer func() {
		for _, name := range append(used, cfg.idsOut) {
			os.Remove(name)
		}
	}()
	// The peak RSS is to be the serving's: the IDs preparing read are
	// dropped before resetPeakRSS frees the heap.
	instances := len(ids)
	ids = nil
	resetPeakRSS()
	stopProfile, err := startCPUProfile(cfg.cpuProfile)
	if err != nil {
		return err
	}
	defer func() {
		if perr := stopProfile(); err == nil {
			err = perr
		}
	}()

	var b strings.Builder
	fmt.Fprintf(&b, "phonefleet: %s\nstatic: %s\ntoken: %s\nids: %s\ninstances: %d\n\n", serverURL, staticURL, token, cfg.idsOut, instances)
	fmt.Fprintf(&b, "From the repository's root, drive each target, then ratio = phonefleet's requests/s / static's:\n")
	secs := max(1, int((cfg.duration+time.Second-1)/time.Second))
	for _, w := range []struct {
		name  string
		batch int
	}{
		{"unsubscribe", min(cfg.batch, phonefleet.MaxUnsubscribeIDs)},
		{"query", min(cfg.batch, phonefleet.MaxUnsubscribeIDs)},
		{"purchase", min(cfg.batch, phonefleet.MaxPurchaseCount)},
	} {
		for _, u := range []string{staticURL, serverURL} {
			fmt.Fprintf(&b, "  wrk -t%d -c%d -d%ds --timeout 10s --latency -s scripts/wrk/%s.lua %s -- %s %d\n",
				min(2, cfg.conns), cfg.conns, secs, w.name, u, cfg.idsOut, w.batch)
		}
	}
	b.WriteString("serving until interrupted\n")
	if _, err := io.WriteString(c.Stdout, b.String()); err != nil {
		return err
	}
	<-ctx.Done()
	_, err = fmt.Fprintf(c.Stdout, "peak RSS while serving %.1f MB\n", float64(peakRSS())/(1<<20))
	return err
}

// wrkUsedFile returns the file where scripts/wrk/unsubscribe.lua keeps how
// far its runs against baseURL got in the IDs file ids.
func wrkUsedFile(ids, baseURL string) string {
	return ids + ".used-" + baseURL[strings.LastIndexByte(baseURL, ':')+1:]
}

// writeWrkIDs writes the token, then the IDs, one a line, to path. The file
// is only the owner's (it holds a token) and replaces path whole, never
// writing through a link left there.
func writeWrkIDs(path, token string, ids []string) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".phonefleet-bench-ids-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a failure
	_, err = io.WriteString(f, token+"\n"+strings.Join(ids, "\n")+"\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
