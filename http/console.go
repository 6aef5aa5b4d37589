package http

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/phonefleet/phonefleet"
)

// consoleFiles is the web console: plain HTML, CSS and JavaScript, embedded
// in the binary, no build step. It is a client of the public API only.
//
//go:embed console
var consoleFiles embed.FS

// consoleContentTypes are the types of the console's files.
var consoleContentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
}

// consoleCSP keeps the console to its own origin: no fonts, scripts or
// calls to other hosts.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// handleRoot sends a browser that opens the server's address to the
// console: GET / (and HEAD) answer 302 with Location /console/.
func handleRoot(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/console/", http.StatusFound)
}

// handleConsole serves the console's files: GET /console/ is the page,
// GET /console/<file> its assets.
func (s *Server) handleConsole(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/console/")
	if name == "" {
		name = "index.html"
	}
	ctype, ok := consoleContentTypes[path.Ext(name)]
	var body []byte
	found := false
	if ok && !strings.Contains(name, "/") && r.URL.RawQuery == "" {
		var err error
		body, err = fs.ReadFile(consoleFiles, "console/"+name)
		found = err == nil
	}
	if !found {
		Error(w, r, phonefleet.Errorf(phonefleet.ENoSuchAPI, "No API found for %s %s", r.Method, r.URL.Path))
		return
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Security-Policy", consoleCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	w.Write(body)
}
