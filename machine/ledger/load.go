package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"github.com/deposit-rvm/rvm/internal/money"
)

// State is what the controller needs to resume after a start or a power cut.
type State struct {
	Session    *Session    // the open session, if any
	Containers []Container // the open session's containers, in order
	Bag        Bag         // the bag in the machine (zero ID when none yet)
	BagCount   int         // credited containers in the bag
	BagMassMg  int64       // their measured mass
	InTransit  []Container // accepted containers never confirmed, in order
	Fault      string      // the latched fault, "" when none
}

// Load reads the state to resume from.
func (l *Ledger) Load(ctx context.Context) (State, error) {
	var st State
	b, ok, err := l.openBag(ctx, l.db)
	if err != nil {
		return st, err
	}
	if ok {
		st.Bag = b
		if err := l.db.QueryRowContext(ctx,
			`SELECT count(*), coalesce(sum(weight_mg), 0) FROM containers WHERE bag_id = ? AND state = ?`, b.ID, Credited).
			Scan(&st.BagCount, &st.BagMassMg); err != nil {
			return st, fmt.Errorf("ledger: bag tally: %w", err)
		}
	}
	var s Session
	var started string
	err = l.db.QueryRowContext(ctx,
		`SELECT id, rvm_id, bag_id, started_at FROM sessions WHERE ended_at IS NULL ORDER BY started_at LIMIT 1`).
		Scan(&s.ID, &s.RvmID, &s.BagID, &started)
	switch {
	case err == sql.ErrNoRows:
	case err != nil:
		return st, fmt.Errorf("ledger: open session: %w", err)
	default:
		s.StartedAt = parseTS(started)
		st.Session = &s
		if st.Containers, err = l.containers(ctx, `session_id = ?`, s.ID); err != nil {
			return st, err
		}
	}
	if st.InTransit, err = l.containers(ctx, `state = ?`, InTransit); err != nil {
		return st, err
	}
	err = l.db.QueryRowContext(ctx, `SELECT kind FROM faults WHERE cleared_at IS NULL ORDER BY id LIMIT 1`).Scan(&st.Fault)
	if err != nil && err != sql.ErrNoRows {
		return st, fmt.Errorf("ledger: faults: %w", err)
	}
	return st, nil
}

func (l *Ledger) containers(ctx context.Context, where string, arg any) ([]Container, error) {
	rows, err := l.db.QueryContext(ctx,
		`SELECT id, session_id, bag_id, ean, cause, weight_mg, deposit, state, decided_at FROM containers WHERE `+where+` ORDER BY id`, arg)
	if err != nil {
		return nil, fmt.Errorf("ledger: containers: %w", err)
	}
	defer rows.Close()
	var out []Container
	for rows.Next() {
		var c Container
		var dep int64
		var at string
		if err := rows.Scan(&c.ID, &c.SessionID, &c.BagID, &c.EAN, &c.Cause, &c.WeightMg, &dep, &c.State, &at); err != nil {
			return nil, fmt.Errorf("ledger: containers: %w", err)
		}
		c.Deposit = money.Grosze(dep)
		c.DecidedAt = parseTS(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

// Totals sums the ledger, for audits and crash tests: credited containers,
// their deposit, and vouchers issued with their amount.
type Totals struct {
	Credited      int
	CreditedValue money.Grosze
	InTransit     int
	Vouchers      int
	VoucherValue  money.Grosze
	OpenSessions  int
}

// Totals reads the ledger's totals.
func (l *Ledger) Totals(ctx context.Context) (Totals, error) {
	var t Totals
	var cv, vv int64
	err := l.db.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM containers WHERE state = 2),
		(SELECT coalesce(sum(deposit), 0) FROM containers WHERE state = 2),
		(SELECT count(*) FROM containers WHERE state = 1),
		(SELECT count(*) FROM vouchers),
		(SELECT coalesce(sum(amount), 0) FROM vouchers),
		(SELECT count(*) FROM sessions WHERE ended_at IS NULL)`).
		Scan(&t.Credited, &cv, &t.InTransit, &t.Vouchers, &vv, &t.OpenSessions)
	if err != nil {
		return t, fmt.Errorf("ledger: totals: %w", err)
	}
	t.CreditedValue, t.VoucherValue = money.Grosze(cv), money.Grosze(vv)
	return t, nil
}

// MetaInt reads an integer meta value (0 when absent).
func (l *Ledger) MetaInt(ctx context.Context, key string) (int64, error) {
	v, ok, err := l.Meta(ctx, key)
	if err != nil || !ok {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("ledger: meta %s: %w", key, err)
	}
	return n, nil
}
