package gateway

import (
	"strconv"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/gateway/store"
	"github.com/deposit-rvm/rvm/internal/money"
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

// batchTally is what a "containers" batch adds to its machine's counts:
// the containers it credits today, their deposits, and its signals. It
// reads only the batch's causes and deposits (envelope.BatchWire.Each),
// not its EANs or times; the body is stored as it came.
func batchTally(w *envelope.BatchWire) (int64, money.Grosze, map[string]int64) {
	var n int64
	var dep money.Grosze
	sig := map[string]int64{}
	w.Each(func(cause int, deposit int64) {
		sig[store.SignalCause+strconv.Itoa(cause)]++
		if cause == 0 {
			n++
			dep += money.Grosze(deposit)
		}
	})
	return n, dep, sig
}
