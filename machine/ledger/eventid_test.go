package ledger

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/deposit-rvm/rvm/telemetry/outbox"
)

// TestContainerEventID: the container event's id is a version 5 UUID that
// depends only on its transaction and container number.
func TestContainerEventID(t *testing.T) {
	tests := []struct {
		session string
		id      int64
	}{
		{"8c7654ec-fd7b-4b62-bb80-3e2f4e02ad1c", 1},
		{"8c7654ec-fd7b-4b62-bb80-3e2f4e02ad1c", 3},
		{"9df764a9-2c87-48b0-963e-7b6430418e7a", 3},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		got := ContainerEventID(tt.session, tt.id)
		u, err := uuid.Parse(got)
		if err != nil || u.Version() != 5 || u.Variant() != uuid.RFC4122 || len(got) != 36 {
			t.Errorf("ContainerEventID(%q, %d) = %q (%v); want a version 5 UUID", tt.session, tt.id, got, err)
		}
		if again := ContainerEventID(tt.session, tt.id); again != got {
			t.Errorf("ContainerEventID(%q, %d) = %q, then %q; want the same", tt.session, tt.id, got, again)
		}
		if seen[got] {
			t.Errorf("ContainerEventID(%q, %d) = %q, already given to another container", tt.session, tt.id, got)
		}
		seen[got] = true
	}
}

// TestEventIDsAreUUIDs: every record the ledger appends to the outbox,
// the container events the trigger writes included, has a UUID for its id;
// also in a ledger release 0.1 wrote (testdata/release-0.1.db), whose
// trigger made ids like "<transactionId>-c3" until migration 2 replaced it.
func TestEventIDsAreUUIDs(t *testing.T) {
	for _, name := range []string{"fresh", "release-0.1"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "l.db")
			if name != "fresh" {
				copyFile(t, "testdata/release-0.1.db", path)
			}
			l, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			before, err := outbox.Pending(ctx, l.DB(), 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			b, err := l.EnsureBag(ctx, 1, 0, t0)
			if err != nil {
				t.Fatal(err)
			}
			session(t, l, b.ID, "voucher")
			session(t, l, b.ID, "donation")
			recs, err := outbox.Pending(ctx, l.DB(), 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			recs = recs[len(before):]
			if len(recs) < 5 {
				t.Fatalf("%d new outbox records; want at least 5", len(recs))
			}
			for _, r := range recs {
				if _, err := uuid.Parse(r.ID); err != nil || len(r.ID) != 36 {
					t.Errorf("outbox record %d (%s) id = %q; want a UUID", r.Seq, r.Kind, r.ID)
				}
			}
		})
	}
}
