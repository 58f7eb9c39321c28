package gateway

import (
	"strconv"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/gateway/store"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// containerSignals is what one decided container adds to its machine's
// running totals: its rejection cause (0 for accepted).
func containerSignals(c envelope.ContainerEvent) map[string]int64 {
	return map[string]int64{store.SignalCause + strconv.Itoa(c.RejectionCauseCode): 1}
}

// transactionSignals is what one transaction adds: itself, and whether the
// fraud rule blocked it.
func transactionSignals(t drsapi.Transaction) map[string]int64 {
	sig := map[string]int64{store.SignalTransactions: 1}
	if t.TransactionBlocked {
		sig[store.SignalBlocked] = 1
	}
	return sig
}
