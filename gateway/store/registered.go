package store

import (
	"context"
	"fmt"
)

// Registered reports whether the operator is known to hold serial's
// current rvmId: the operator registered the machine with us (POST
// /machine on our API), or it accepted the machine's registration, or any
// event of the machine under that rvmId. A machine's own status can name
// an rvmId before any of that happened; asking the operator about such an
// id only earns "Machine doesn't belong to given DRS operator".
func (s *Store) Registered(ctx context.Context, serial string) (bool, error) {
	var n int
	err := s.rd.QueryRowContext(ctx, s.q(`SELECT count(*) FROM machines m WHERE m.serial = ? AND m.rvm_id <> ''
		AND (m.registration <> '' OR EXISTS (SELECT 1 FROM events e WHERE e.machine = m.serial AND e.state = ?
			AND (e.kind = 'registration' OR e.rvm_id = m.rvm_id)))`), serial, StateDelivered).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: registered %s: %w", serial, err)
	}
	return n > 0, nil
}
