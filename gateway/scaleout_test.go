package gateway_test

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/deposit-rvm/rvm/drs/drssim"
	"github.com/deposit-rvm/rvm/gateway/store"
)

// postgresDSN returns a DSN for a fresh schema of the database named by
// RVM_TEST_POSTGRES (dropped after the test), skipping the test without it.
func postgresDSN(t *testing.T) string {
	t.Helper()
	base := os.Getenv("RVM_TEST_POSTGRES")
	if base == "" {
		t.Skip("RVM_TEST_POSTGRES not set")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	schema := "t_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if a, err := sql.Open("pgx", base); err == nil {
			_, _ = a.Exec("DROP SCHEMA " + schema + " CASCADE")
			a.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Two replicas on one mosquitto (a shared subscription) and one PostgreSQL
// deliver every event once: each is stored once, delivered once, and no
// replica repeats another's delivery.
func TestTwoReplicasOnePostgres(t *testing.T) {
	dsn := postgresDSN(t)
	machines := serials(8)
	e := newEnv(t, drssim.Options{}, machines...)
	o1 := e.gatewayOptions(dsn)
	o1.ClientID = "gw-one"
	o2 := e.gatewayOptions(dsn)
	o2.ClientID = "gw-two"
	// Replicas store a machine's events in no particular order; the
	// forwarder waits for the gaps (long enough on a busy test machine).
	o1.GapWait, o2.GapWait = 3*time.Second, 3*time.Second
	a := e.startGateway(o1)
	b := e.startGateway(o2)
	const total = 400
	for i := 0; i < total; i++ {
		m := machines[i%len(machines)]
		tx := e.transaction(m, eanOK, 1, nil)
		env := e.envelopeFor(m, "transaction", tx.ID, tx)
		e.publishEnvelope(env)
		if i%10 == 0 {
			e.publishEnvelope(env) // a duplicate may land on the other replica
		}
	}
	waitFor(t, "every transaction delivered", func() bool { return eventCount(t, a.gw, store.StateDelivered) == total })
	seen := map[string]int{}
	for _, tx := range e.simTransactions() {
		seen[tx.ID]++
	}
	if len(seen) != total {
		t.Errorf("operator holds %d transactions; want %d", len(seen), total)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("transaction %s accepted %d times", id, n)
		}
	}
	if n := e.front.count("POST /transaction"); n != total {
		t.Errorf("POST /transaction = %d; want %d (no replica repeats another's delivery)", n, total)
	}
	ma, mb := a.gw.Metrics(), b.gw.Metrics()
	if ma.Consumed["transaction"] == 0 || mb.Consumed["transaction"] == 0 {
		t.Errorf("consumed %v and %v; want both replicas to take a share", ma.Consumed, mb.Consumed)
	}
	if got := ma.Consumed["transaction"] + mb.Consumed["transaction"]; got != total {
		t.Errorf("stored %v transactions in all; want %d", got, total)
	}
	if got := ma.Forwarded["transaction"] + mb.Forwarded["transaction"]; got != total {
		t.Errorf("forwarded %v in all; want %d", got, total)
	}
	// Per machine order holds across replicas.
	order := map[string][]int64{}
	for _, tx := range e.simTransactions() {
		ev, err := a.gw.Store().Event(context.Background(), tx.ID)
		if err != nil {
			t.Fatal(err)
		}
		order[ev.Machine] = append(order[ev.Machine], ev.Seq)
	}
	for m, seqs := range order {
		for i := 1; i < len(seqs); i++ {
			if seqs[i] < seqs[i-1] {
				t.Errorf("machine %s delivered out of order: %v", m, seqs)
				break
			}
		}
	}
}
