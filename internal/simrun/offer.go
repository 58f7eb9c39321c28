package simrun

import (
	"context"

	"github.com/deposit-rvm/rvm/internal/scenario"
)

// Offer tries a customer's step (insert or finish) now, from an act on a
// live run; false means "not yet" (the chute is busy, the belt is moving).
// The kiosk's sim-only controls use it to drive sessions step by step.
func (r *Runner) Offer(ctx context.Context, st scenario.Step) bool { return r.liveStep(ctx, st) }
