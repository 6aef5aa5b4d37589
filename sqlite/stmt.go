package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// maxCachedStmts bounds the statements a pool keeps prepared. The store's
// SQL is a fixed set of texts (lists of IDs are passed as one JSON array,
// never as a placeholder per ID), so the bound is only a guard.
const maxCachedStmts = 512

// stmtCache keeps the statements of one pool prepared, so that SQLite parses
// each SQL text once per connection instead of once per operation (parsing
// was about a quarter of the server's CPU under write load).
//
// A statement cannot be prepared on the pool while the caller's transaction
// holds the pool's connection (the write pool has only one), so the first
// use of a text runs it unprepared and asks a goroutine to prepare it on the
// pool, which waits for a free connection; later uses bind the prepared
// statement to their transaction (database/sql reuses the statement already
// prepared on that connection).
type stmtCache struct {
	pool *sql.DB

	mu      sync.Mutex
	stmts   map[string]*sql.Stmt
	pending map[string]bool
	closed  bool
	wg      sync.WaitGroup
}

func newStmtCache(pool *sql.DB) *stmtCache {
	return &stmtCache{pool: pool, stmts: make(map[string]*sql.Stmt), pending: make(map[string]bool)}
}

// get returns the prepared statement of query, or nil if it is not
// prepared yet (it then will be soon).
func (c *stmtCache) get(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.stmts[query]; ok {
		return s
	}
	if !c.closed && !c.pending[query] && len(c.stmts)+len(c.pending) < maxCachedStmts {
		c.pending[query] = true
		c.wg.Add(1)
		go c.prepare(query)
	}
	return nil
}

// prepare prepares query on the pool and keeps it. A failure is not
// kept: the text then runs unprepared, where its error shows.
func (c *stmtCache) prepare(query string) {
	defer c.wg.Done()
	s, err := c.pool.PrepareContext(context.Background(), query)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.pending, query)
	if err != nil {
		return
	}
	if c.closed {
		s.Close()
		return
	}
	c.stmts[query] = s
}

// close waits for the statements being prepared and closes them all. It
// runs before the pool closes.
func (c *stmtCache) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, s := range c.stmts {
		s.Close()
		delete(c.stmts, q)
	}
}

// stmt returns query's prepared statement bound to tx, or nil.
func (tx *Tx) stmt(ctx context.Context, query string) *sql.Stmt {
	if tx.stmts == nil {
		return nil
	}
	if s := tx.stmts.get(query); s != nil {
		return tx.sqlTx.StmtContext(ctx, s)
	}
	return nil
}

// ExecContext runs query through its prepared statement.
func (tx *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := tx.stmt(ctx, query); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return tx.sqlTx.ExecContext(ctx, query, args...)
}

// QueryContext runs query through its prepared statement.
func (tx *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := tx.stmt(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return tx.sqlTx.QueryContext(ctx, query, args...)
}

// QueryRowContext runs query through its prepared statement.
func (tx *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := tx.stmt(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return tx.sqlTx.QueryRowContext(ctx, query, args...)
}

// PrepareContext returns query's statement bound to tx: the one prepared
// once on the connection when there is one. Closing it leaves that one
// prepared.
func (tx *Tx) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	if s := tx.stmt(ctx, query); s != nil {
		return s, nil
	}
	return tx.sqlTx.PrepareContext(ctx, query)
}
