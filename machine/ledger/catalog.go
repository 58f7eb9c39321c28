package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
)

// SaveCatalog persists a catalogue update atomically: a full snapshot
// replaces every product, a delta upserts and removes. Products are the
// operator's JSON objects keyed by their normalized EAN.
func (l *Ledger) SaveCatalog(ctx context.Context, version int64, full bool, upsert map[string]json.RawMessage, remove []string) error {
	return l.write(ctx, func(ctx context.Context, tx *sql.Tx, w *writer) error {
		if full {
			if _, err := tx.ExecContext(ctx, `DELETE FROM catalog_products`); err != nil {
				return fmt.Errorf("ledger: catalogue: %w", err)
			}
		}
		for ean, body := range upsert {
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO catalog_products (ean, body) VALUES (?, ?) ON CONFLICT(ean) DO UPDATE SET body = excluded.body`,
				ean, []byte(body)); err != nil {
				return fmt.Errorf("ledger: catalogue %s: %w", ean, err)
			}
		}
		for _, ean := range remove {
			if _, err := tx.ExecContext(ctx, `DELETE FROM catalog_products WHERE ean = ?`, ean); err != nil {
				return fmt.Errorf("ledger: catalogue %s: %w", ean, err)
			}
		}
		return setMeta(ctx, tx, "catalog_version", strconv.FormatInt(version, 10))
	})
}

// LoadCatalog returns the persisted catalogue as a JSON array of products
// and its version; ok is false when none was ever saved.
func (l *Ledger) LoadCatalog(ctx context.Context) (version int64, products []byte, ok bool, err error) {
	v, ok, err := l.Meta(ctx, "catalog_version")
	if err != nil || !ok {
		return 0, nil, false, err
	}
	version, err = strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, nil, false, fmt.Errorf("%w: catalog_version %q", ErrCorrupt, v)
	}
	rows, err := l.db.QueryContext(ctx, `SELECT body FROM catalog_products ORDER BY ean`)
	if err != nil {
		return 0, nil, false, fmt.Errorf("ledger: catalogue: %w", err)
	}
	defer rows.Close()
	var arr []json.RawMessage
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return 0, nil, false, fmt.Errorf("ledger: catalogue: %w", err)
		}
		arr = append(arr, b)
	}
	if err := rows.Err(); err != nil {
		return 0, nil, false, err
	}
	if arr == nil {
		arr = []json.RawMessage{}
	}
	products, err = json.Marshal(arr)
	return version, products, true, err
}
