package telemetry

import (
	"context"
	"fmt"

	"github.com/deposit-rvm/rvm/telemetry/outbox"
)

// OverBudget reports whether the bodies the outbox holds take budgetBytes
// or more: every record still on disk, whether the broker or the gateway
// has yet to take it (unconfirmed records stay) or a sweep to delete it.
// The controller blocks intake while it is true, rather than let a money
// event go unrecorded for want of disk. It costs one row read.
func OverBudget(ctx context.Context, db outbox.DBTX, budgetBytes int64) (bool, error) {
	_, bytes, err := outbox.Stored(ctx, db)
	if err != nil {
		return false, fmt.Errorf("telemetry: %w", err)
	}
	return bytes >= budgetBytes, nil
}
