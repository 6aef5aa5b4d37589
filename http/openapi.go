package http

import (
	_ "embed"
	"net/http"
)

// openAPI is the OpenAPI 3 document of every route, served at
// /openapi.json. A test checks that it is valid, that it names every route
// the server registers, and the e2e suite validates every answer it gets
// against it.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI document of the API.
func OpenAPI() []byte { return openAPI }

// handleOpenAPI serves the OpenAPI document: GET /openapi.json.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(openAPI)
}
