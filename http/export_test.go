package http

// SetVerifyPassword replaces the server's password check, so that tests can
// count the hashing work a sign-in does.
func SetVerifyPassword(s *Server, f func(hash, password string) bool) { s.verifyPassword = f }

// DecodeCreateRequest exposes the purchase decoder to the black-box tests.
var DecodeCreateRequest = decodeCreateRequest
