package drssim

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// BenchmarkAddTransaction stores one transaction (1 KB, with its voucher,
// under a scattered id)
// in an in-memory store that already holds held of them: an operator's cost
// a transaction must not grow with what it holds, or a long backlog slows
// down as it goes (the in-memory database's commit did, before the memdb
// VFS).
func BenchmarkAddTransaction(b *testing.B) {
	ctx := context.Background()
	body := []byte(strings.Repeat("x", 1000))
	now := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	for _, held := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("held=%d", held), func(b *testing.B) {
			st, err := openStore("")
			if err != nil {
				b.Fatal(err)
			}
			defer st.close()
			n := 0
			add := func() {
				n++
				// Transaction ids are UUIDs: they land all over the index.
				id := fmt.Sprintf("%016x", uint64(n)*0x9E3779B97F4A7C15)
				v := txVoucher{id: fmt.Sprintf("29%011d", n), validUntil: now.AddDate(0, 0, 30), endTime: now}
				if _, err := st.addTransaction(ctx, id, "rvm-1", body, v, now, nil); err != nil {
					b.Fatal(err)
				}
			}
			for range held {
				add()
			}
			b.ResetTimer()
			for b.Loop() {
				add()
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
	ctx := context.Background()
	body := []byte(strings.Repeat("x", 1000))
	now := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	fill := func(st *store, n int) error {
		for i := range n {
			if _, err := st.addTransaction(ctx, fmt.Sprintf("tx-%d", i), "rvm-1", body, txVoucher{}, now, nil); err != nil {
				return fmt.Errorf("transaction %d: %w", i, err)
			}
		}
		return nil
	}
	for _, c := range []struct {
		limit int64
		full  bool
	}{
		{2 << 20, true},   // 4,000 transactions are about 4.5 MB
		{16 << 20, false}, // a limit above the data
	} {
		st, err := openStoreLimit("", c.limit)
		if err != nil {
			t.Fatal(err)
		}
		err = fill(st, 4000)
		st.close()
		if full := err != nil; full != c.full {
			t.Errorf("limit %d bytes: 4,000 transactions gave %v; want full=%v", c.limit, err, c.full)
		}
		if err != nil && !strings.Contains(err.Error(), "full") {
			t.Errorf("limit %d bytes: %v; want the database full", c.limit, err)
		}
	}
}
