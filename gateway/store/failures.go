package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Failure statuses.
const (
	FailureOpen      = "open"
	FailureDismissed = "dismissed"
)

// Failure is one entry of the failure report: an event the operator
// refused for a reason that retrying cannot fix.
type Failure struct {
	EventID    string    `json:"eventId"`
	Machine    string    `json:"machine"`
	Kind       string    `json:"kind"`
	Reason     string    `json:"reason"`
	HTTPStatus int       `json:"httpStatus,omitempty"`
	Code       string    `json:"code,omitempty"`
	Message    string    `json:"message,omitempty"`
	FirstTry   time.Time `json:"firstAttempt"`
	LastTry    time.Time `json:"lastAttempt"`
	Status     string    `json:"status"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// MarkFailed moves a pending event to the failure report, so that the
// machine's later events are not held up behind it.
func (s *Store) MarkFailed(ctx context.Context, f Failure) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var first int64
		err := tx.QueryRowContext(ctx, s.q(`SELECT first_attempt_at FROM events WHERE id = ?`), f.EventID).Scan(&first)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: event %s", ErrNotFound, f.EventID)
		}
		if err != nil {
			return fmt.Errorf("store: fail %s: %w", f.EventID, err)
		}
		if first == 0 {
			first = ms(f.LastTry)
		}
		if f.Kind == kindRegistration {
			// A machine repeats its registration until it succeeds: every
			// repeat refused for the same cause is one open entry, the
			// newest (the one a retry should send), not one per repeat.
			if err := s.supersede(ctx, tx, f, &first); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE events SET state = 'failed', attempts = attempts + 1,
			first_attempt_at = ?, last_attempt_at = ?, last_error = ? WHERE id = ?`),
			first, ms(f.LastTry), f.Reason, f.EventID); err != nil {
			return fmt.Errorf("store: fail %s: %w", f.EventID, err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO failures(event_id, machine, kind, reason, http_status, code, message,
			first_attempt_at, last_attempt_at, status, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?)
			ON CONFLICT(event_id) DO UPDATE SET reason = excluded.reason, http_status = excluded.http_status,
			code = excluded.code, message = excluded.message, last_attempt_at = excluded.last_attempt_at,
			status = 'open', updated_at = excluded.updated_at`),
			f.EventID, f.Machine, f.Kind, f.Reason, f.HTTPStatus, f.Code, f.Message, first, ms(f.LastTry), ms(f.LastTry)); err != nil {
			return fmt.Errorf("store: report %s: %w", f.EventID, err)
		}
		return nil
	})
}

// kindRegistration is the envelope kind of a machine's registration request.
const kindRegistration = "registration"

// supersede closes the open entries of f's machine and kind refused for
// the same cause (status, code, message) as f: their events are dismissed
// as superseded by f's, and f's entry keeps the first one's first attempt.
func (s *Store) supersede(ctx context.Context, tx *sql.Tx, f Failure, first *int64) error {
	rows, err := tx.QueryContext(ctx, s.q(`SELECT event_id, first_attempt_at FROM failures WHERE machine = ? AND kind = ? AND status = 'open'
		AND http_status = ? AND code = ? AND message = ? AND event_id <> ? ORDER BY event_id`),
		f.Machine, f.Kind, f.HTTPStatus, f.Code, f.Message, f.EventID)
	if err != nil {
		return fmt.Errorf("store: report %s: %w", f.EventID, err)
	}
	var old []string
	for rows.Next() {
		var id string
		var at int64
		if err := rows.Scan(&id, &at); err != nil {
			rows.Close()
			return fmt.Errorf("store: report %s: %w", f.EventID, err)
		}
		old = append(old, id)
		if at != 0 && at < *first {
			*first = at
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: report %s: %w", f.EventID, err)
	}
	for _, id := range old {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM failures WHERE event_id = ?`), id); err != nil {
			return fmt.Errorf("store: report %s: %w", f.EventID, err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE events SET state = 'dismissed', last_error = ? WHERE id = ? AND state = 'failed'`),
			"superseded by "+f.EventID, id); err != nil {
			return fmt.Errorf("store: report %s: %w", f.EventID, err)
		}
	}
	return nil
}

// Failures lists the report, newest first; dismissed entries only when
// asked for.
func (s *Store) Failures(ctx context.Context, withDismissed bool) ([]Failure, error) {
	query := `SELECT event_id, machine, kind, reason, http_status, code, message, first_attempt_at, last_attempt_at, status, updated_at FROM failures`
	if !withDismissed {
		query += ` WHERE status = 'open'`
	}
	rows, err := s.rd.QueryContext(ctx, query+` ORDER BY last_attempt_at DESC, event_id`)
	if err != nil {
		return nil, fmt.Errorf("store: list failures: %w", err)
	}
	defer rows.Close()
	out := []Failure{}
	for rows.Next() {
		var f Failure
		var first, last, upd int64
		if err := rows.Scan(&f.EventID, &f.Machine, &f.Kind, &f.Reason, &f.HTTPStatus, &f.Code, &f.Message, &first, &last, &f.Status, &upd); err != nil {
			return nil, fmt.Errorf("store: list failures: %w", err)
		}
		f.FirstTry, f.LastTry, f.UpdatedAt = fromMS(first), fromMS(last), fromMS(upd)
		out = append(out, f)
	}
	return out, rows.Err()
}

// RetryFailure puts a reported event back in its machine's queue, at the
// head (it keeps its seq), and takes it off the report. A refusal on the
// retry reports it again.
func (s *Store) RetryFailure(ctx context.Context, eventID string, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var machine string
		err := tx.QueryRowContext(ctx, s.q(`SELECT machine FROM failures WHERE event_id = ?`), eventID).Scan(&machine)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: failure %s", ErrNotFound, eventID)
		}
		if err != nil {
			return fmt.Errorf("store: retry %s: %w", eventID, err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE events SET state = 'pending' WHERE id = ? AND state IN ('failed', 'dismissed')`), eventID); err != nil {
			return fmt.Errorf("store: retry %s: %w", eventID, err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM failures WHERE event_id = ?`), eventID); err != nil {
			return fmt.Errorf("store: retry %s: %w", eventID, err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO fwd(machine, next_at) VALUES (?, 0)
			ON CONFLICT(machine) DO UPDATE SET next_at = 0, fails = 0`), machine); err != nil {
			return fmt.Errorf("store: retry %s: %w", eventID, err)
		}
		return nil
	})
}

// DismissFailure marks a reported event as let go: it stays in the report
// (as dismissed) until purged, and is never forwarded.
func (s *Store) DismissFailure(ctx context.Context, eventID string, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, s.q(`UPDATE failures SET status = 'dismissed', updated_at = ? WHERE event_id = ?`), ms(now), eventID)
		if err != nil {
			return fmt.Errorf("store: dismiss %s: %w", eventID, err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: failure %s", ErrNotFound, eventID)
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE events SET state = 'dismissed' WHERE id = ? AND state = 'failed'`), eventID); err != nil {
			return fmt.Errorf("store: dismiss %s: %w", eventID, err)
		}
		return nil
	})
}

// PurgeFailures deletes report entries last touched before cutoff and
// returns how many. The events themselves stay stored.
func (s *Store) PurgeFailures(ctx context.Context, cutoff time.Time) (int64, error) {
	r, err := s.db.ExecContext(ctx, s.q(`DELETE FROM failures WHERE updated_at < ?`), ms(cutoff))
	if err != nil {
		return 0, fmt.Errorf("store: purge failures: %w", err)
	}
	n, _ := r.RowsAffected()
	return n, nil
}

// QuarantineList returns the newest quarantined events, at most limit.
func (s *Store) QuarantineList(ctx context.Context, limit int) ([]Quarantined, error) {
	rows, err := s.rd.QueryContext(ctx, s.q(`SELECT id, topic, payload, size, reason, received_at FROM quarantine ORDER BY id DESC LIMIT ?`), limit)
	if err != nil {
		return nil, fmt.Errorf("store: quarantine: %w", err)
	}
	defer rows.Close()
	out := []Quarantined{}
	for rows.Next() {
		var q Quarantined
		var at int64
		if err := rows.Scan(&q.ID, &q.Topic, &q.Payload, &q.Size, &q.Reason, &at); err != nil {
			return nil, fmt.Errorf("store: quarantine: %w", err)
		}
		q.ReceivedAt = fromMS(at)
		out = append(out, q)
	}
	return out, rows.Err()
}
