// Package drs is the client of the deposit-system operator's RVM API
// (Kaucja.pl RVM API 1.0.12, the operator's side): machine registration, the product
// catalogue, transactions, bag reports and vouchers. Bodies are the wire
// types of package drsapi.
//
// # Usage
//
//	c := drs.New("https://drs-sandbox.kaucja.pl/api/rvm", token, nil)
//	v, err := c.PostTransaction(ctx, tx)
//	switch {
//	case errors.Is(err, drs.ErrAlreadyDelivered):
//		// a retry of a delivered transaction: done
//	case drs.Retryable(err):
//		// keep it queued, try later
//	case err != nil:
//		// the operator refused it: a failure report for staff
//	}
//
// Every call retries by itself on 429, 5xx, timeouts and connection errors,
// with jittered exponential backoff (Options.BaseBackoff doubling up to
// Options.MaxBackoff), at most Options.MaxAttempts tries. A Retry-After
// (seconds or an HTTP date) replaces the computed wait; one longer than
// MaxBackoff ends the call at once with the wait in [APIError.RetryAfter], so
// that a queue can park the item instead of blocking on it. The context
// bounds everything.
//
// The operator answers errors in two shapes (ApiException and the older
// ErrorMessage); both are decoded into [APIError.Exception]. An APIError
// unwraps to [ErrNotFound], [ErrUnauthorized], [ErrAlreadyDelivered],
// [ErrAlreadyRedeemed] or [ErrConflict] where its status means one of them.
//
// The test double for the operator is package drs/drssim.
//
// # Concurrency
//
// A [Client] is immutable after [New] and safe for concurrent use.
package drs
