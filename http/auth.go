package http

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/phonefleet/phonefleet"
)

// Messages of APIGW.0301 that the domain does not produce (Token.Check
// gives the revoked and expired ones).
const (
	msgTokenNotFound = "Incorrect IAM authentication information: x-auth-token not found"
	msgTokenInvalid  = "Incorrect IAM authentication information: token is invalid"
)

// maxTokenCacheEntries bounds the token cache, which also remembers unknown
// tokens: a flood of random tokens must not grow it without limit.
const maxTokenCacheEntries = 10000

// authenticated wraps a route's handler in the checks that precede its
// parameters, in the order of docs/api.md ("Check order"): authentication
// (401), the tenant's rate limit (429), the action (1001).
func (s *Server) authenticated(action string, h http.Handler) http.Handler {
	return s.authenticate(s.rateLimit(s.requireAction(action, h)))
}

// authenticate puts the caller's principal in the request's context, or
// answers APIGW.0301. The caller is the X-Auth-Token when there is one;
// otherwise an SDK-HMAC-SHA256 signature in Authorization (see
// verifySignature), which is checked after the body is read and before
// anything else.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.principal(r)
		if err == nil && !p.IsOperator() {
			err = s.checkSuspended(r.Context(), p.TenantID)
		}
		if err != nil {
			Error(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(phonefleet.NewContextWithPrincipal(r.Context(), p)))
	})
}

// principal returns the caller of r: the X-Auth-Token's when there is one,
// else the signature's; APIGW.0301 when neither is good.
func (s *Server) principal(r *http.Request) (*phonefleet.Principal, error) {
	if raw := r.Header.Get("X-Auth-Token"); raw != "" {
		return s.tokenPrincipal(r.Context(), raw)
	} else if strings.HasPrefix(r.Header.Get("Authorization"), signAlgorithm+" ") {
		return s.verifySignature(r)
	}
	return nil, phonefleet.Errorf(phonefleet.EUnauthorized, msgTokenNotFound)
}

// sharedNow is SharedNow, or Now when none is set.
func (s *Server) sharedNow() time.Time {
	if s.SharedNow != nil {
		return s.SharedNow()
	}
	return s.Now()
}

// tokenPrincipal returns the principal of a token, or APIGW.0301.
func (s *Server) tokenPrincipal(ctx context.Context, raw string) (*phonefleet.Principal, error) {
	tok, err := s.findToken(ctx, phonefleet.HashToken(raw))
	if err != nil {
		return nil, err
	}
	if err := tok.Check(s.sharedNow()); err != nil {
		return nil, err
	}
	return &phonefleet.Principal{
		TenantID: tok.TenantID, TenantName: tok.TenantName, TokenID: tok.ID, TokenName: tok.Name,
		UserID: tok.UserID, UserName: tok.UserName, Actions: tok.Actions,
	}, nil
}

// findToken returns the token with hash, through the cache: a token found
// and a token not found are both remembered for TokenCacheTTL. Store
// failures are not cached.
func (s *Server) findToken(ctx context.Context, hash []byte) (*phonefleet.Token, error) {
	now := s.Now()
	key := string(hash)
	if s.TokenCacheTTL > 0 {
		if tok, ok := s.tokens.get(key, now); ok {
			tokenCacheTotal.WithLabelValues("hit").Inc()
			if tok == nil {
				return nil, phonefleet.Errorf(phonefleet.EUnauthorized, msgTokenInvalid)
			}
			return tok, nil
		}
	}
	tokenCacheTotal.WithLabelValues("miss").Inc()
	tok, err := s.Store.FindTokenByHash(ctx, hash)
	if phonefleet.ErrorCode(err) == phonefleet.ENotFound {
		tok, err = nil, nil
	} else if err != nil {
		return nil, err
	}
	if s.TokenCacheTTL > 0 {
		s.tokens.put(key, tok, now.Add(s.TokenCacheTTL))
	}
	if tok == nil {
		return nil, phonefleet.Errorf(phonefleet.EUnauthorized, msgTokenInvalid)
	}
	return tok, nil
}

// tokenCache remembers token lookups by hash; a nil token means not found.
type tokenCache struct {
	mu      sync.Mutex
	entries map[string]tokenCacheEntry
}

type tokenCacheEntry struct {
	token   *phonefleet.Token
	expires time.Time
}

func newTokenCache() *tokenCache {
	return &tokenCache{entries: make(map[string]tokenCacheEntry)}
}

func (c *tokenCache) get(key string, now time.Time) (*phonefleet.Token, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !now.Before(e.expires) {
		return nil, false
	}
	return e.token, true
}

func (c *tokenCache) put(key string, tok *phonefleet.Token, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxTokenCacheEntries {
		// Drop what has expired; if the cache is still full, start over.
		for k, e := range c.entries {
			if !expires.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxTokenCacheEntries {
			clear(c.entries)
		}
	}
	c.entries[key] = tokenCacheEntry{token: tok, expires: expires}
}

// rateLimit answers APIGW.0308 with Retry-After when the principal's tenant
// has used up its token bucket.
func (s *Server) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.RateLimit > 0 {
			p := phonefleet.PrincipalFromContext(r.Context())
			if wait, ok := s.limiter.allow(p.TenantID, s.RateLimit, s.RateBurst, s.Now(), requestCost(r)); !ok {
				rateLimitedTotal.Inc()
				secs := int(math.Ceil(wait.Seconds()))
				w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
				Error(w, r, phonefleet.Errorf(phonefleet.ERateLimited,
					"The throttling threshold has been reached: tenant over rate limit of %g requests/s", s.RateLimit))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// rateLimiter is a token bucket per tenant.
type rateLimiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter() *rateLimiter {
	return &rateLimiter{buckets: make(map[string]*bucket)}
}

// allow takes one token from key's bucket, which refills at rate per second
// up to burst (at least 1), or reports how long until one is available.
func (l *rateLimiter) allow(key string, rate float64, burst int, now time.Time, cost float64) (time.Duration, bool) {
	capacity := float64(max(burst, 1))
	cost = min(max(cost, 1), capacity)
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: capacity, last: now}
		l.buckets[key] = b
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(capacity, b.tokens+elapsed.Seconds()*rate)
		b.last = now
	}
	if b.tokens >= cost {
		b.tokens -= cost
		return 0, true
	}
	return time.Duration((cost - b.tokens) / rate * float64(time.Second)), false
}

// rowsPerToken is how many rows a request may ask for per token of the rate
// limit: a listing of 1,000 rows costs 10 requests' worth, so a tenant
// cannot multiply its load on the database by asking for bigger pages.
const rowsPerToken = 100

// requestCost is what a request takes from its tenant's bucket: the rows
// it asks for (page_size) per rowsPerToken, at least 1.
func requestCost(r *http.Request) float64 {
	if r.Method != http.MethodGet {
		return 1
	}
	n, err := strconv.Atoi(r.URL.Query().Get("page_size"))
	if err != nil || n <= rowsPerToken {
		return 1
	}
	return math.Ceil(float64(min(n, maxPageSize)) / rowsPerToken)
}

// requireAction answers KOOPHONE.API.1001 if the token lacks action. A
// refused write is audited like any other failed write.
func (s *Server) requireAction(action string, next http.Handler) http.Handler {
	return s.requireActionAudited(action, action, next)
}

// requireActionAudited is requireAction for an API audited under an action
// of its own (audit) that needs the IAM action action.
func (s *Server) requireActionAudited(action, audit string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !phonefleet.PrincipalFromContext(r.Context()).Can(action) {
			err := phonefleet.Errorf(phonefleet.EForbidden,
				"the token lacks the action koophone:cloudphoneResource:%s", action)
			s.refuse(w, r, audit, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}
