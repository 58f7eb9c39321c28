package store_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deposit-rvm/rvm/gateway/store"
)

// A machine's page reads its row by two index searches, by serial or by
// rvmId: a scan of the machines table, as the query made before migration
// 0006, costs a fleet of 10,000 machines a full read per page view.
func TestMachineLookupUsesIndexes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.db")
	st, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`EXPLAIN QUERY PLAN `+store.MachineByKey, "2026-05-01", "RVM-1", "rvm")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	got := strings.Join(plan, "; ")
	if strings.Contains(got, "SCAN m") || !strings.Contains(got, "machines_rvm_id") {
		t.Errorf("query plan of Store.Machine = %s; want index searches on serial and machines_rvm_id, no scan", got)
	}
}
