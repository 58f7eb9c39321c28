package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Product is one catalogue entry as stored: its EAN and the operator's
// JSON, as received.
type Product struct {
	EAN  string
	Body json.RawMessage
}

const kvCatalogVersion = "catalog.version"

// CatalogVersion returns the current catalogue version (0: none yet).
func (s *Store) CatalogVersion(ctx context.Context) (int64, error) {
	v, err := s.KV(ctx, kvCatalogVersion)
	if err != nil || v == "" {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("store: catalogue version %q: %w", v, err)
	}
	return n, nil
}

// ApplyProducts stores products. With full, products not in the list are
// removed (kept as tombstones so that a delta can name them). The version
// goes up by one when anything changed; it returns the current version.
func (s *Store) ApplyProducts(ctx context.Context, products []Product, full bool) (int64, bool, error) {
	var version int64
	var changed bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		changed = false
		var cur string
		err := tx.QueryRowContext(ctx, s.q(`SELECT value FROM kv WHERE name = ?`), kvCatalogVersion).Scan(&cur)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: catalogue version: %w", err)
		}
		version, _ = strconv.ParseInt(cur, 10, 64)
		next := version + 1
		old := map[string]string{}
		rows, err := tx.QueryContext(ctx, `SELECT ean, body FROM products WHERE removed = 0`)
		if err != nil {
			return fmt.Errorf("store: read catalogue: %w", err)
		}
		for rows.Next() {
			var e, b string
			if err := rows.Scan(&e, &b); err != nil {
				rows.Close()
				return fmt.Errorf("store: read catalogue: %w", err)
			}
			old[e] = b
		}
		rows.Close()
		seen := map[string]bool{}
		for _, p := range products {
			seen[p.EAN] = true
			if b, ok := old[p.EAN]; ok && b == string(p.Body) {
				continue
			}
			changed = true
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO products(ean, body, version, removed) VALUES (?, ?, ?, 0)
				ON CONFLICT(ean) DO UPDATE SET body = excluded.body, version = excluded.version, removed = 0`),
				p.EAN, string(p.Body), next); err != nil {
				return fmt.Errorf("store: product %s: %w", p.EAN, err)
			}
		}
		if full {
			for e := range old {
				if seen[e] {
					continue
				}
				changed = true
				if _, err := tx.ExecContext(ctx, s.q(`UPDATE products SET removed = 1, version = ? WHERE ean = ?`), next, e); err != nil {
					return fmt.Errorf("store: remove product %s: %w", e, err)
				}
			}
		}
		if !changed {
			return nil
		}
		version = next
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO kv(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value`),
			kvCatalogVersion, strconv.FormatInt(next, 10))
		if err != nil {
			return fmt.Errorf("store: catalogue version: %w", err)
		}
		return nil
	})
	return version, changed, err
}

// ProductsSince returns what changed after version: the products added or
// updated and the EANs removed. Version 0 is the whole catalogue.
func (s *Store) ProductsSince(ctx context.Context, version int64) (upserts []Product, removed []string, err error) {
	rows, err := s.rd.QueryContext(ctx, s.q(`SELECT ean, body, removed FROM products WHERE version > ? ORDER BY ean`), version)
	if err != nil {
		return nil, nil, fmt.Errorf("store: catalogue since %d: %w", version, err)
	}
	defer rows.Close()
	for rows.Next() {
		var p Product
		var body string
		var rm int
		if err := rows.Scan(&p.EAN, &body, &rm); err != nil {
			return nil, nil, fmt.Errorf("store: catalogue since %d: %w", version, err)
		}
		if rm == 1 {
			if version > 0 {
				removed = append(removed, p.EAN)
			}
			continue
		}
		p.Body = json.RawMessage(body)
		upserts = append(upserts, p)
	}
	return upserts, removed, rows.Err()
}

// TxQuery selects transactions for the operator's lost-data sync
// (GET /transaction on our API).
type TxQuery struct {
	RvmID     string
	Delivered *bool // nil: both
	From, To  time.Time
	Start     int
	Limit     int
}

// Transactions returns the page of transactions q selects and how many
// there are in all. "Delivered" means the operator accepted it or confirmed
// it.
func (s *Store) Transactions(ctx context.Context, q TxQuery) ([]Event, int, error) {
	where := []string{`kind = 'transaction'`}
	var args []any
	if q.RvmID != "" {
		where = append(where, `rvm_id = ?`)
		args = append(args, strings.ToLower(q.RvmID))
	}
	if q.Delivered != nil {
		if *q.Delivered {
			where = append(where, `(state = 'delivered' OR confirmed_at <> 0)`)
		} else {
			where = append(where, `(state <> 'delivered' AND confirmed_at = 0)`)
		}
	}
	if !q.From.IsZero() {
		where = append(where, `received_at >= ?`)
		args = append(args, ms(q.From))
	}
	if !q.To.IsZero() {
		where = append(where, `received_at <= ?`)
		args = append(args, ms(q.To))
	}
	cond := strings.Join(where, " AND ")
	var total int
	if err := s.rd.QueryRowContext(ctx, s.q(`SELECT count(*) FROM events WHERE `+cond), args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: count transactions: %w", err)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	rows, err := s.rd.QueryContext(ctx, s.q(`SELECT `+eventCols+` FROM events WHERE `+cond+` ORDER BY received_at, id LIMIT ? OFFSET ?`),
		append(args, limit, max(q.Start, 0))...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: transactions: %w", err)
	}
	defer rows.Close()
	out := []Event{}
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("store: transactions: %w", err)
		}
		out = append(out, e)
	}
	return out, total, rows.Err()
}

// ConfirmTransaction records the operator's confirmation that it holds a
// transaction; a pending delivery of it is then done.
func (s *Store) ConfirmTransaction(ctx context.Context, id string, now time.Time) error {
	r, err := s.db.ExecContext(ctx, s.q(`UPDATE events SET confirmed_at = ?,
		state = CASE WHEN state = 'pending' THEN 'delivered' ELSE state END,
		delivered_at = CASE WHEN delivered_at = 0 THEN ? ELSE delivered_at END
		WHERE id = ? AND kind = 'transaction'`), ms(now), ms(now), id)
	if err != nil {
		return fmt.Errorf("store: confirm %s: %w", id, err)
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: transaction %s", ErrNotFound, id)
	}
	return nil
}

// MachineAcceptedCatalog records the catalogue version a machine reports
// it holds, from its reply to a catalogue command. The version only goes
// up: a late reply to an older push does not lower it.
func (s *Store) MachineAcceptedCatalog(ctx context.Context, serial string, version int64) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE machines SET catalog_version = ? WHERE serial = ? AND catalog_version < ?`),
		version, serial, version)
	if err != nil {
		return fmt.Errorf("store: catalogue version of %s: %w", serial, err)
	}
	return nil
}
