package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browserPage is a headless Chromium tab for the console's tests. Each step
// has its own deadline; a failed step saves failed.png and reports the
// console's error line. Screenshots go to the test's artifact directory
// (kept with go test -artifacts).
type browserPage struct {
	t   *testing.T
	ctx context.Context // the browser's: it lives as long as this context
	dir string
}

// newBrowserPage starts Chromium (browser, from chromium) with a window of
// width×height; it is stopped when ctx ends or the test does.
func newBrowserPage(t *testing.T, ctx context.Context, browser string, width, height int) *browserPage {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.WindowSize(width, height),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("lang", "en-US"))...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(alloc, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelBrowser)
	// The first call starts the browser, which lives as long as that call's
	// context: bctx, not a step's.
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	dir := t.ArtifactDir()
	t.Logf("screenshots in %s", dir)
	return &browserPage{t: t, ctx: bctx, dir: dir}
}

func (p *browserPage) fail(what string, err error) {
	p.t.Helper()
	msg, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`document.querySelector("#error").hidden ? "" : document.querySelector("#error").textContent`))
	if png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100)); err == nil {
		os.WriteFile(filepath.Join(p.dir, "failed.png"), png, 0o644)
	}
	p.t.Fatalf("%s: %v (error shown: %q)", what, err, msg)
}

// run runs steps, failing the test if one fails.
func (p *browserPage) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	sctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		p.fail(what, err)
	}
}

// eval evaluates expr in the page and decodes its value into v.
func (p *browserPage) eval(what, expr string, v any) {
	p.t.Helper()
	res, err := chromedp.Run(p.ctx, chromedp.Evaluate[json.RawMessage](expr))
	if err == nil {
		err = json.Unmarshal(res, v)
	}
	if err != nil {
		p.fail(what, err)
	}
}

// shot saves a screenshot of the whole page as name.png.
func (p *browserPage) shot(name string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, target *chromedp.Target) (chromedp.Void, error) {
		png, err := chromedp.FullScreenshot(100)(ctx, target)
		if err != nil {
			return chromedp.Void{}, err
		}
		return chromedp.Void{}, os.WriteFile(filepath.Join(p.dir, name+".png"), png, 0o644)
	}
}

// text returns the text of the element sel, trimmed.
func (p *browserPage) text(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		p.fail("read "+sel, err)
	}
	return strings.TrimSpace(s)
}

// attr returns the attribute name of the element sel.
func (p *browserPage) attr(sel, name string) string {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
	if err != nil {
		p.fail("read "+sel+"@"+name, err)
	}
	return v.Value
}

// setField sets a form field's value as a user's edit does, firing input
// and change.
func setField(sel, value string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, target *chromedp.Target) (chromedp.Void, error) {
		ok, err := chromedp.Evaluate[bool](`(e => { if (!e) return false; e.value = `+strconv.Quote(value)+
			`; e.dispatchEvent(new Event("input", {bubbles: true})); e.dispatchEvent(new Event("change", {bubbles: true})); return true; })(document.querySelector(`+
			strconv.Quote(sel)+`))`)(ctx, target)
		if err == nil && !ok {
			err = fmt.Errorf("no %s", sel)
		}
		return chromedp.Void{}, err
	}
}

// pollTrue waits until expr is true in the page.
func pollTrue(expr string, timeout time.Duration) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, target *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(timeout))(ctx, target)
		return chromedp.Void{}, err
	}
}

// evalStep evaluates expr in the page as a step, ignoring its value.
func evalStep(expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, target *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[json.RawMessage](expr)(ctx, target)
		return chromedp.Void{}, err
	}
}

// pageWidth reports the page's scroll width and the window's inner width:
// a page that fits does not scroll sideways (scroll <= inner).
func (p *browserPage) pageWidth() (scroll, inner int) {
	p.t.Helper()
	var w struct {
		Scroll int `json:"scroll"`
		Inner  int `json:"inner"`
	}
	p.eval("page width", `({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})`, &w)
	return w.Scroll, w.Inner
}
