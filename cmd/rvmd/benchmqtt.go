package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/google/uuid"
	_ "github.com/mattn/go-sqlite3"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/internal/mqttconn"
	"github.com/deposit-rvm/rvm/telemetry"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
	"github.com/deposit-rvm/rvm/telemetry/outbox"
)

// mqttBenchResult is bench-mqtt's one line of output.
// The rates are the medians over the rounds; Ratio is the median of the
// rounds' drain/raw ratios (each round runs the two back to back, so that
// the load the machine's other work puts on the broker and the CPU falls
// on both alike).
type mqttBenchResult struct {
	Events            int       `json:"events"`
	Rounds            int       `json:"rounds"`
	DrainEventsPerS   float64   `json:"drain_events_per_s"`
	RawPahoEventsPerS float64   `json:"raw_paho_events_per_s"`
	DrainSeconds      float64   `json:"drain_seconds"`
	Ratio             float64   `json:"ratio"`
	Ratios            []float64 `json:"ratios"`
}

// runBenchMQTT fills a fresh outbox with N transaction events, drains it to
// the broker with the telemetry publisher, then publishes the same payloads
// with raw paho (QoS 1, the same window of in-flight messages) to the same
// broker, -rounds times, and prints the median rates and their ratio. The
// raw rate is the ceiling: what the broker and the network allow without a
// durable queue.
func runBenchMQTT(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench-mqtt", flag.ContinueOnError)
	url := fs.String("mqtt", os.Getenv("RVM_MQTT"), "broker `URL` (env RVM_MQTT)")
	events := fs.Int("events", 10000, "transaction events to send")
	dbPath := fs.String("db", "", "SQLite `file` for the outbox (default: a temporary file, removed afterwards)")
	window := fs.Int("window", telemetry.DefaultWindow, "QoS 1 publishes in flight, for both runs")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the drains to `file`")
	rounds := fs.Int("rounds", 5, "drain and raw paho runs, alternating")
	rawBuffered := fs.Bool("raw-buffered", false, "give raw paho the publisher's connection too (internal/mqttconn: buffered reads, gathered writes): the two on the same transport")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *url == "":
		return errors.New("bench-mqtt: -mqtt URL is required")
	case *events <= 0:
		return fmt.Errorf("bench-mqtt: -events %d: want at least 1", *events)
	case *window <= 0:
		return fmt.Errorf("bench-mqtt: -window %d: want at least 1", *window)
	case *rounds <= 0:
		return fmt.Errorf("bench-mqtt: -rounds %d: want at least 1", *rounds)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	path := *dbPath
	if path == "" {
		dir, err := os.MkdirTemp("", "rvmd-bench-mqtt-")
		if err != nil {
			return fmt.Errorf("bench-mqtt: %w", err)
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "outbox.db")
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=FULL&_txlock=immediate&_busy_timeout=5000")
	if err != nil {
		return fmt.Errorf("bench-mqtt: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("bench-mqtt: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("bench-mqtt: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	var drains, raws, ratios []float64
	for range *rounds {
		d, r, err := mqttBenchRound(ctx, db, *url, *events, *window, *rawBuffered)
		if err != nil {
			return err
		}
		drains, raws, ratios = append(drains, d.Seconds()), append(raws, r.Seconds()), append(ratios, mqttRound(100, r.Seconds()/d.Seconds()))
	}
	n := float64(*events)
	res := mqttBenchResult{
		Events: *events, Rounds: *rounds,
		DrainEventsPerS:   mqttRound(10, n/median(drains)),
		RawPahoEventsPerS: mqttRound(10, n/median(raws)),
		DrainSeconds:      mqttRound(1000, median(drains)),
		Ratio:             median(ratios),
		Ratios:            ratios,
	}
	return json.NewEncoder(stdout).Encode(res)
}

// mqttBenchRound fills the outbox, drains it through the publisher, then
// sends the same payloads with raw paho, and returns both times.
func mqttBenchRound(ctx context.Context, db *sql.DB, url string, events, window int, rawBuffered bool) (drain, raw time.Duration, err error) {
	serial := "bench-" + uuid.NewString()[:8]
	recs, err := mqttBenchFill(ctx, db, events)
	if err != nil {
		return 0, 0, err
	}
	drain, err = mqttBenchDrain(ctx, db, url, serial, window)
	if err != nil {
		return 0, 0, err
	}
	payloads := make([][]byte, len(recs))
	for i, r := range recs {
		if payloads[i], err = json.Marshal(envelope.Envelope{
			V: envelope.Version, ID: r.ID, Machine: serial, RvmID: r.RvmID, Seq: r.Seq,
			TS: r.TS.UTC().Format(time.RFC3339Nano), Kind: r.Kind, Body: r.Body,
		}); err != nil {
			return 0, 0, fmt.Errorf("bench-mqtt: %w", err)
		}
	}
	raw, err = mqttBenchRawPaho(ctx, url, serial, window, payloads, rawBuffered)
	return drain, raw, err
}

// median of xs (not empty).
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// mqttBenchFill appends n transaction events the size of a real session's
// (about 600 bytes of body each).
func mqttBenchFill(ctx context.Context, db *sql.DB, n int) ([]outbox.Record, error) {
	if err := outbox.Init(ctx, db); err != nil {
		return nil, fmt.Errorf("bench-mqtt: %w", err)
	}
	rvmID := uuid.NewString()
	t0 := time.Now().UTC().Truncate(time.Second)
	recs := make([]outbox.Record, 0, n)
	for start := 0; start < n; start += 1000 {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("bench-mqtt: fill: %w", err)
		}
		for i := start; i < min(start+1000, n); i++ {
			r := mqttBenchTransaction(i, rvmID, t0)
			if r.Seq, err = outbox.Append(ctx, tx, r); err != nil {
				tx.Rollback()
				return nil, fmt.Errorf("bench-mqtt: fill: %w", err)
			}
			recs = append(recs, r)
		}
		if err := tx.Commit(); err != nil {
			return nil, fmt.Errorf("bench-mqtt: fill: %w", err)
		}
	}
	return recs, nil
}

func mqttBenchTransaction(i int, rvmID string, t0 time.Time) outbox.Record {
	start := t0.Add(time.Duration(i) * 30 * time.Second)
	end := start.Add(40 * time.Second)
	tx := drsapi.Transaction{
		ID: uuid.NewString(), RvmID: rvmID, TotalAmount: 11, TotalWeight: 392,
		Voucher:              &drsapi.VoucherBase{ID: "RVM" + strconv.Itoa(400000000+i), RedeemType: drsapi.RedeemValid},
		TransactionStartTime: start.Format(time.RFC3339), TransactionEndTime: end.Format(time.RFC3339),
		TotalAccepted: 9, TotalRejected: 2,
		Containers: []drsapi.Container{
			{EAN: "5901234123457", Count: 4, Weight: 108},
			{EAN: "5900820000219", Count: 3, Weight: 81},
			{EAN: "4006381333931", Count: 2, Weight: 203},
			{EAN: "5449000000996", Count: 1, Weight: 540, RejectionCauseCode: drsapi.CauseNotAccepted},
			{EAN: "", Count: 1, Weight: 24, RejectionCauseCode: drsapi.CauseBarcodeMissing},
		},
	}
	body, _ := json.Marshal(tx) // plain structs: cannot fail
	return outbox.Record{ID: tx.ID, Kind: envelope.KindTransaction, TS: end, RvmID: rvmID, Body: body}
}

// mqttBenchDrain times the publisher from Run until the outbox is empty.
func mqttBenchDrain(ctx context.Context, db *sql.DB, url, serial string, window int) (time.Duration, error) {
	p, err := telemetry.NewPublisher(db, telemetry.Options{
		Broker: url, Serial: serial, Window: window,
		Username: os.Getenv("RVM_MQTT_USER"), Password: os.Getenv("RVM_MQTT_PASSWORD"),
	})
	if err != nil {
		return 0, fmt.Errorf("bench-mqtt: %w", err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- p.Run(rctx) }()
	err = p.Drain(ctx)
	took := time.Since(start)
	stop()
	<-done
	if err != nil {
		return 0, fmt.Errorf("bench-mqtt: %w", err)
	}
	return took, nil
}

// mqttBenchRawPaho publishes payloads with paho alone, keeping window
// publishes in flight, and times it from connect to the last PUBACK.
// buffered gives it the publisher's connection (internal/mqttconn); paho
// as shipped reads each PUBACK in three system calls and writes each
// packet in one.
func mqttBenchRawPaho(ctx context.Context, url, serial string, window int, payloads [][]byte, buffered bool) (time.Duration, error) {
	o := paho.NewClientOptions().AddBroker(url).SetClientID("rvm-" + serial + "-raw").
		SetCleanSession(true).SetAutoReconnect(false).SetOrderMatters(false).SetConnectTimeout(10 * time.Second)
	if u := os.Getenv("RVM_MQTT_USER"); u != "" {
		o.SetUsername(u).SetPassword(os.Getenv("RVM_MQTT_PASSWORD"))
	}
	if buffered {
		mqttconn.Use(o, url)
	}
	c := paho.NewClient(o)
	start := time.Now()
	if t := c.Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		return 0, fmt.Errorf("bench-mqtt: raw paho connect %s: %v", url, t.Error())
	}
	defer c.Disconnect(250)
	topic := envelope.EventTopic(serial, envelope.KindTransaction)
	inflight := make(chan paho.Token, window)
	errc := make(chan error, 1)
	go func() {
		defer close(errc)
		for t := range inflight {
			select {
			case <-t.Done():
			case <-ctx.Done():
				errc <- ctx.Err()
				return
			}
			if t.Error() != nil {
				errc <- t.Error()
				return
			}
		}
	}()
	for _, p := range payloads {
		select {
		case inflight <- c.Publish(topic, 1, false, p):
		case err := <-errc:
			return 0, fmt.Errorf("bench-mqtt: raw paho: %w", err)
		}
	}
	close(inflight)
	if err := <-errc; err != nil {
		return 0, fmt.Errorf("bench-mqtt: raw paho: %w", err)
	}
	return time.Since(start), nil
}

// mqttRound rounds f to 1/scale, for a readable JSON line.
func mqttRound(scale, f float64) float64 { return math.Round(f*scale) / scale }
