package drssim

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// addTransactions stores n transactions of 1 KB, each with its voucher,
// numbered from first. Their ids are scattered over the index, as UUIDs
// are.
func addTransactions(st *store, first, n int) error {
	body := []byte(strings.Repeat("x", 1000))
	now := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	for i := first; i < first+n; i++ {
		id := fmt.Sprintf("%016x", uint64(i+1)*0x9E3779B97F4A7C15)
		v := txVoucher{id: fmt.Sprintf("29%011d", i+1), validUntil: now.AddDate(0, 0, 30), endTime: now}
		if _, err := st.addTransaction(context.Background(), id, "rvm-1", body, v, now, nil); err != nil {
			return fmt.Errorf("transaction %d: %w", i, err)
		}
	}
	return nil
}

// BenchmarkAddTransaction stores one transaction (see addTransactions) in
// an in-memory store that already holds held of them: an operator's cost a
// transaction must not grow with what it holds, or a long backlog slows
// down as it goes (the in-memory database's commit did, before the memdb
// VFS).
func BenchmarkAddTransaction(b *testing.B) {
	for _, held := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("held=%d", held), func(b *testing.B) {
			st, err := openStore("")
			if err != nil {
				b.Fatal(err)
			}
			defer st.close()
			if err := addTransactions(st, 0, held); err != nil {
				b.Fatal(err)
			}
			n := held
			for b.Loop() {
				if err := addTransactions(st, n, 1); err != nil {
					b.Fatal(err)
				}
				n++
			}
		})
	}
}

// TestMemoryStoreLimit: the in-memory store holds what its limit allows,
// and refuses more with an error (a 500 for the caller), not silently. The
// limit is the simulator's own, not SQLite's 1 GiB default for the memdb
// VFS, which stopped an hour's backlog short of its last 19,000
// transactions.
func TestMemoryStoreLimit(t *testing.T) {
	for _, c := range []struct {
		limit int64
		full  bool
	}{
		{2 << 20, true},   // 4,000 transactions are about 5 MB
		{16 << 20, false}, // a limit above the data
	} {
		st, err := openStoreLimit("", c.limit)
		if err != nil {
			t.Fatal(err)
		}
		err = addTransactions(st, 0, 4000)
		st.close()
		if full := err != nil; full != c.full {
			t.Errorf("limit %d bytes: 4,000 transactions gave %v; want full=%v", c.limit, err, c.full)
		}
		if err != nil && !strings.Contains(err.Error(), "full") {
			t.Errorf("limit %d bytes: %v; want the database full", c.limit, err)
		}
	}
}
