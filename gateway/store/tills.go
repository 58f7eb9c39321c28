package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// AddTill registers a till under name with the hash of its token. A name
// already registered fails with [ErrConflict]: a till's token is shown
// once, never replaced silently.
func (s *Store) AddTill(ctx context.Context, name, tokenHash string, now time.Time) error {
	r, err := s.db.ExecContext(ctx, s.q(`INSERT INTO tills(name, token_hash, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`),
		name, tokenHash, ms(now))
	if err != nil {
		return fmt.Errorf("store: add till %s: %w", name, err)
	}
	if n, _ := r.RowsAffected(); n != 1 {
		return fmt.Errorf("%w: till %s exists", ErrConflict, name)
	}
	return nil
}

// TillByToken returns the name of the till whose token hashes to
// tokenHash, or [ErrNotFound].
func (s *Store) TillByToken(ctx context.Context, tokenHash string) (string, error) {
	var name string
	err := s.rd.QueryRowContext(ctx, s.q(`SELECT name FROM tills WHERE token_hash = ?`), tokenHash).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w: till token", ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("store: till token: %w", err)
	}
	return name, nil
}

// Reply is a stored answer to a request with an Idempotency-Key.
type Reply struct {
	Status int // 0 while the first request is still running
	Body   []byte
}

// BeginIdempotent claims key for a request. It returns false and the
// stored reply when a request with the key came before.
func (s *Store) BeginIdempotent(ctx context.Context, key string, now time.Time) (bool, Reply, error) {
	r, err := s.db.ExecContext(ctx, s.q(`INSERT INTO idempotency(key, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING`), key, ms(now))
	if err != nil {
		return false, Reply{}, fmt.Errorf("store: idempotency key: %w", err)
	}
	if n, _ := r.RowsAffected(); n == 1 {
		return true, Reply{}, nil
	}
	var rep Reply
	var body string
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT status, body FROM idempotency WHERE key = ?`), key).Scan(&rep.Status, &body); err != nil {
		return false, Reply{}, fmt.Errorf("store: idempotency key: %w", err)
	}
	rep.Body = []byte(body)
	return false, rep, nil
}

// FinishIdempotent stores the reply to the request that claimed key; a
// status of 0 forgets the key, so that the request may be made again (it
// had no effect).
func (s *Store) FinishIdempotent(ctx context.Context, key string, rep Reply) error {
	var err error
	if rep.Status == 0 {
		_, err = s.db.ExecContext(ctx, s.q(`DELETE FROM idempotency WHERE key = ?`), key)
	} else {
		_, err = s.db.ExecContext(ctx, s.q(`UPDATE idempotency SET status = ?, body = ? WHERE key = ?`), rep.Status, string(rep.Body), key)
	}
	if err != nil {
		return fmt.Errorf("store: idempotency reply: %w", err)
	}
	return nil
}
