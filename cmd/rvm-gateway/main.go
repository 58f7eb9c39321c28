// Command rvm-gateway is the RVM cloud: MQTT in from the fleet, the
// operator's API out, and the POS, fleet and operator APIs over HTTP.
//
//	rvm-gateway -mqtt URL -drs URL -drs-token TOKEN -db DSN -listen ADDR [-group NAME]
//	            [-client-id ID] [-api-token TOKEN] [-ack-every D] [-ack-within D]
//	rvm-gateway failures list|retry ID|dismiss ID|purge -db DSN
//	rvm-gateway tills add -db DSN NAME
//	rvm-gateway stations add -name NAME -store STORE -db DSN
//
// The failures commands work on an existing database only: a mistyped -db
// is an error naming the path, never a new empty database.
//
// Each flag also reads an environment variable (RVM_MQTT, RVM_DRS,
// RVM_DRS_TOKEN, RVM_DB, RVM_LISTEN, RVM_GROUP, RVM_CLIENT_ID,
// RVM_API_TOKEN); a flag given on the command line wins.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/deposit-rvm/rvm/gateway"
	"github.com/deposit-rvm/rvm/gateway/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if code := exitCode(err); code != 0 {
		fmt.Fprintln(os.Stderr, "rvm-gateway:", err)
		os.Exit(code)
	}
}

// exitCode is 0 for a clean stop and for -h (which asked for the usage and
// got it), 1 for any error.
func exitCode(err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 1
}

const usage = `usage:
  rvm-gateway [flags]                 run the gateway (flags below)
  rvm-gateway failures list [-all] [-json] -db DSN
  rvm-gateway failures retry ID -db DSN
  rvm-gateway failures dismiss ID -db DSN
  rvm-gateway failures purge -db DSN
  rvm-gateway tills add -db DSN NAME  register a till; prints {"till","token"} once
  rvm-gateway stations add -name NAME -store STORE -db DSN [-drs URL -drs-token TOKEN]
                                      register a manual collection point with the
                                      operator; prints {"station","rvmId"}
                                      the failure report of an existing database
                                      (rvm-gateway failures VERB -h for its flags)

flags:
`

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// run runs the gateway, or one of its subcommands, until ctx is done. A
// stop by ctx (Ctrl-C) is a clean stop: nil.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "failures" {
		return failures(args[1:], stdout, stderr)
	}
	if len(args) > 0 && (args[0] == "tills" || args[0] == "stations") {
		return register(ctx, args[0], args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("rvm-gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	mqttURL := fs.String("mqtt", env("RVM_MQTT", "tcp://127.0.0.1:1883"), "MQTT broker URL (RVM_MQTT)")
	drsURL := fs.String("drs", env("RVM_DRS", ""), "operator API base URL (RVM_DRS)")
	drsToken := fs.String("drs-token", env("RVM_DRS_TOKEN", ""), "operator API bearer token (RVM_DRS_TOKEN)")
	dsn := fs.String("db", env("RVM_DB", "gateway.db"), "SQLite path or postgres:// URL (RVM_DB)")
	listen := fs.String("listen", env("RVM_LISTEN", "127.0.0.1:8080"), "HTTP listen address (RVM_LISTEN)")
	group := fs.String("group", env("RVM_GROUP", gateway.DefaultGroup), "shared subscription group of the replicas (RVM_GROUP)")
	clientID := fs.String("client-id", env("RVM_CLIENT_ID", ""), "stable MQTT client id of this replica (RVM_CLIENT_ID; default rvm-gateway-HOSTNAME)")
	apiToken := fs.String("api-token", env("RVM_API_TOKEN", ""), "bearer token for the POS, fleet and operator APIs (RVM_API_TOKEN)")
	notify := fs.String("notify", env("RVM_NOTIFY", ""), "where digital vouchers go: file:PATH (one JSON line each) or a webhook URL (RVM_NOTIFY)")
	reserveTTL := fs.Duration("reservation-ttl", gateway.DefaultReservationTTL, "cancel a till's payout left unconfirmed this long")
	ackEvery := fs.Duration("ack-every", gateway.DefaultAckEvery, "tell each machine at most this often which of its events are committed (rvm/SERIAL/ack); 0: never")
	ackWithin := fs.Duration("ack-within", gateway.DefaultAckWithin, "tell a machine within this long (to within -ack-every) of committing its event; sooner once it has 32 waiting; keep it under the machines' resendAfter")
	verbose := fs.Bool("v", false, "log debug detail")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *ackEvery < 0 {
		return fmt.Errorf("-ack-every %v: want a duration of 0 (no acks) or more", *ackEvery)
	}
	if *ackEvery == 0 {
		*ackEvery = -1 // gateway.Options: negative is none, zero the default
	}
	if *ackEvery > 0 && *ackWithin < *ackEvery {
		return fmt.Errorf("-ack-within %v: want at least -ack-every (%v)", *ackWithin, *ackEvery)
	}
	var notifier gateway.Notifier
	if *notify != "" {
		n, err := gateway.NewNotifier(*notify, nil)
		if err != nil {
			return err
		}
		notifier = n
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	g, err := gateway.New(gateway.Options{
		MQTTURL: *mqttURL, ClientID: *clientID, Group: *group,
		DRSURL: *drsURL, DRSToken: *drsToken, DB: *dsn, APIToken: *apiToken, Logger: log,
		Notifier: notifier, ReservationTTL: *reserveTTL, AckEvery: *ackEvery, AckWithin: *ackWithin,
	})
	if err != nil {
		return err
	}
	defer g.Close()
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: g.Handler(), ReadHeaderTimeout: 10 * time.Second}
	httpErr := make(chan error, 1)
	go func() { httpErr <- srv.Serve(ln) }()
	log.Info("rvm-gateway: serving", slog.String("url", "http://"+ln.Addr().String()+"/"))
	runErr := make(chan error, 1)
	go func() { runErr <- g.Run(ctx) }()
	select {
	case err = <-runErr:
	case err = <-httpErr:
		stop()
		<-runErr
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// failures is the failure report's command line: list, retry, dismiss,
// purge. It works on the database directly, so it needs no running gateway.
func failures(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: rvm-gateway failures list|retry ID|dismiss ID|purge -db DSN")
	}
	verb, args := args[0], args[1:]
	if verb == "-h" || verb == "-help" || verb == "--help" {
		fmt.Fprintln(stderr, "usage: rvm-gateway failures list|retry ID|dismiss ID|purge -db DSN (an existing database)")
		return flag.ErrHelp
	}
	var id string
	if verb == "retry" || verb == "dismiss" {
		if len(args) == 0 || args[0] == "" || args[0][0] == '-' {
			return fmt.Errorf("failures %s needs an event id", verb)
		}
		id, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("rvm-gateway failures "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := fs.String("db", env("RVM_DB", "gateway.db"), "SQLite path or postgres:// URL (RVM_DB)")
	all := fs.Bool("all", false, "list dismissed entries too")
	asJSON := fs.Bool("json", false, "list as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := existingDB(*dsn); err != nil {
		return err
	}
	ctx := context.Background()
	st, err := store.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now()
	switch verb {
	case "list":
		fl, err := st.Failures(ctx, *all)
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(fl)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "EVENT\tMACHINE\tKIND\tSTATUS\tHTTP\tCODE\tFIRST\tLAST\tMESSAGE")
		for _, f := range fl {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", f.EventID, f.Machine, f.Kind, f.Status, f.HTTPStatus, f.Code,
				f.FirstTry.Format(time.RFC3339), f.LastTry.Format(time.RFC3339), f.Message)
		}
		return tw.Flush()
	case "retry":
		if err := st.RetryFailure(ctx, id, now); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s requeued; a running gateway delivers it\n", id)
	case "dismiss":
		if err := st.DismissFailure(ctx, id, now); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s dismissed\n", id)
	case "purge":
		n, err := st.PurgeFailures(ctx, now.Add(-gateway.DefaultFailureRetention))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d entries purged\n", n)
	default:
		return fmt.Errorf("unknown failures command %q (list, retry, dismiss, purge)", verb)
	}
	return nil
}

// existingDB refuses a SQLite path with no database at it: opening would
// create an empty one, and the report would say "no failures" about a typo.
func existingDB(dsn string) error {
	if store.IsPostgres(dsn) {
		return nil // a server does not create a database on connect
	}
	path := strings.TrimPrefix(dsn, "sqlite://")
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("no gateway database at %s (give the gateway's -db)", path)
	case err != nil:
		return fmt.Errorf("gateway database %s: %w", path, err)
	case fi.IsDir():
		return fmt.Errorf("gateway database %s is a directory", path)
	}
	return nil
}
