package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	halpkg "github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/hal/sim"
	"github.com/deposit-rvm/rvm/internal/scenario"
	"github.com/deposit-rvm/rvm/internal/simrun"
	"github.com/deposit-rvm/rvm/machine/catalog"
	"github.com/deposit-rvm/rvm/machine/config"
)

// benchResult is the one JSON line rvmd bench prints.
type benchResult struct {
	HAL            string  `json:"hal"`
	Containers     int     `json:"containers"`
	Seconds        float64 `json:"seconds"`
	ContainersPerS float64 `json:"containers_per_s"`
	P50DecisionUS  float64 `json:"p50_decision_us"`
	P99DecisionUS  float64 `json:"p99_decision_us"`
	// The controller's whole reaction to a container arriving in the
	// chamber: both scales and the metal sensor read through the devices,
	// the decision, the belt commanded, the durable commit.
	P50ArrivalUS       float64 `json:"p50_arrival_us"`
	P99ArrivalUS       float64 `json:"p99_arrival_us"`
	AllocsPerContainer float64 `json:"allocs_per_container"`
	MaxRSSMB           float64 `json:"max_rss_mb"`
	RawCommitsPerS     float64 `json:"raw_commits_per_s"`
}

// runBench drives N containers through the real pipeline (fsm, rules,
// ledger with a durable commit per container, outbox) on the simulated
// machine with no mechanical delay.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rvmd bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("containers", 10000, "how many containers")
	dir := fs.String("dir", "", "`directory` for the databases (default: a temporary one); put it on the disk you want to measure")
	hals := fs.String("hal", simrun.HALSim, "devices, one JSON line each: sim, pins (the real drivers on simulated pins) or sim,pins")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n <= 0 {
		return fmt.Errorf("bench: -containers must be positive")
	}
	work := *dir
	if work == "" {
		d, err := os.MkdirTemp("", "rvmd-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		work = d
	}
	cat, err := loadCatalog("")
	if err != nil {
		return err
	}
	raw, err := rawCommits(filepath.Join(work, "raw.db"), 2*time.Second)
	if err != nil {
		return err
	}
	for i, h := range strings.Split(*hals, ",") {
		res, err := benchHAL(ctx, cat, *n, filepath.Join(work, fmt.Sprintf("bench-%d.db", i)), h)
		if err != nil {
			return err
		}
		res.RawCommitsPerS = round3(raw)
		if err := json.NewEncoder(stdout).Encode(res); err != nil {
			return err
		}
	}
	return nil
}

// benchHAL runs n containers on one set of devices.
func benchHAL(ctx context.Context, cat *catalog.Catalog, n int, db, hal string) (benchResult, error) {
	steps := benchSteps(cat.Products(), n)
	lat := make([]time.Duration, 0, n)
	arrival := make([]time.Duration, 0, n)
	mo := simrun.MachineOptions(config.Default())
	mo.BagSettle = 0
	mo.OnDecision = func(d time.Duration) { lat = append(lat, d) }
	zero := sim.ZeroTiming()
	r, err := simrun.Start(ctx, steps, simrun.Options{
		Catalog: cat, DBPath: db, Machine: mo, Timing: &zero, HAL: hal,
		OnHandled: func(k halpkg.EventKind, d time.Duration) {
			if k == halpkg.ChamberBlocked {
				arrival = append(arrival, d)
			}
		},
	})
	if err != nil {
		return benchResult{}, err
	}
	defer r.Close()
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	t0 := time.Now()
	if err := r.Play(ctx, steps); err != nil {
		return benchResult{}, err
	}
	elapsed := time.Since(t0)
	runtime.ReadMemStats(&m1)
	if err := r.Close(); err != nil {
		return benchResult{}, err
	}
	slices.Sort(lat)
	slices.Sort(arrival)
	return benchResult{
		HAL:                hal,
		Containers:         n,
		Seconds:            round3(elapsed.Seconds()),
		ContainersPerS:     round3(float64(n) / elapsed.Seconds()),
		P50DecisionUS:      round3(pct(lat, 0.50)),
		P99DecisionUS:      round3(pct(lat, 0.99)),
		P50ArrivalUS:       round3(pct(arrival, 0.50)),
		P99ArrivalUS:       round3(pct(arrival, 0.99)),
		AllocsPerContainer: round3(float64(m1.Mallocs-m0.Mallocs) / float64(n)),
		MaxRSSMB:           round3(maxRSSMB()),
	}, nil
}

// benchSteps makes sessions of 20 to 60 containers of catalogue products
// (mostly accepted, some rejected), with a bag exchange whenever the bag
// would be full.
func benchSteps(products []catalog.Product, n int) []scenario.Step {
	rng := rand.New(rand.NewPCG(1, 2))
	var accept []catalog.Product
	for _, p := range products {
		if p.Status == drsapi.StatusAccept {
			accept = append(accept, p)
		}
	}
	steps := []scenario.Step{{Op: scenario.OpStart, At: simrun.DefaultStart}}
	inSession, inBag, seal := 0, 0, 0
	for i := 0; i < n; i++ {
		p := accept[rng.IntN(len(accept))]
		st := scenario.Step{Op: scenario.OpInsert, EAN: p.EAN, Barcode: "ok", Gap: 1500 * time.Millisecond}
		if rng.IntN(20) == 0 {
			st.Barcode = "damaged"
		}
		steps = append(steps, st)
		inSession++
		inBag++
		if inBag >= 380 {
			seal++
			steps = append(steps, scenario.Step{Op: scenario.OpFinish, Payout: "voucher"},
				scenario.Step{Op: scenario.OpBagExchange, Seal: fmt.Sprintf("9%014d", seal), Staff: "bench"})
			inSession, inBag = 0, 0
		} else if inSession >= 20+rng.IntN(40) {
			steps = append(steps, scenario.Step{Op: scenario.OpFinish, Payout: "voucher"})
			inSession = 0
		}
	}
	return append(steps, scenario.Step{Op: scenario.OpFinish, Payout: "voucher"})
}

// rawCommits measures the physical limit: one small row per durable commit
// with the ledger's SQLite settings.
func rawCommits(path string, d time.Duration) (float64, error) {
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=FULL&_txlock=immediate")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)`); err != nil {
		return 0, err
	}
	n := 0
	t0 := time.Now()
	for time.Since(t0) < d {
		tx, err := db.Begin()
		if err != nil {
			return 0, err
		}
		if _, err := tx.Exec(`INSERT INTO t (v) VALUES (?)`, "container"); err != nil {
			tx.Rollback()
			return 0, err
		}
		if err := tx.Commit(); err != nil {
			return 0, err
		}
		n++
	}
	return float64(n) / time.Since(t0).Seconds(), nil
}

func pct(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return float64(sorted[i]) / float64(time.Microsecond)
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

func maxRSSMB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024 // kilobytes on Linux
}
