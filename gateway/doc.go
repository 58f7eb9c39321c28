// Package gateway is the RVM cloud: it takes every event the fleet
// publishes over MQTT, hands the operator (the DRS) what it must receive,
// keeps machines supplied with the catalogue and voucher codes, lets the
// store's POS redeem vouchers, and shows the fleet.
//
// # Usage
//
//	g, err := gateway.New(gateway.Options{
//		MQTTURL: "tcp://127.0.0.1:1883", ClientID: "gw-1",
//		DRSURL: "https://drs.example/api/rvm", DRSToken: token,
//		DB: "gateway.db", // or "postgres://..."
//	})
//	defer g.Close()
//	go http.Serve(ln, g.Handler())
//	err = g.Run(ctx)
//
// # The path of an event
//
// The consumer subscribes to $share/GROUP/rvm/+/evt/# at QoS 1 with a
// persistent session and acknowledges a message only after the commit that
// stored it (paho's auto-ack is off), so a crash loses nothing: the broker
// hands unacknowledged messages out again, and the store drops them as
// duplicates of their machine's event. Messages are stored in batches, one
// commit per batch, by a worker; paho's goroutine only queues them. A
// batch is acknowledged in the order the broker sent it (by packet id),
// as MQTT asks and as mosquitto, which looks each PUBACK up from the
// oldest message in flight, runs fastest. On a tcp:// broker the
// connection is read through a buffer and its PUBACKs written together
// (internal/mqttconn), not a system call or four per message. A
// message that is oversized, not JSON, fails [envelope.Envelope.Validate],
// whose topic names another machine or kind than its envelope, or that
// the threat model below refuses, is quarantined with its raw payload and
// reason, and acknowledged.
//
// After the commit the machine hears of it: every event of a machine that
// a commit handled (stored, a duplicate, or refused for good with a valid
// envelope of that machine) is noted in memory. Every Options.AckEvery
// (5 s; -ack-every, 0 for none) the gateway looks, and each machine whose
// first noted event has waited Options.AckWithin (15 s, to within
// AckEvery), or that has 32 noted, gets one QoS 1 message on
// rvm/SERIAL/ack, {"v":1,"seqs":[[a,b],...]}: the merged seq ranges since
// its last ack (acks.go). Acking each machine at every look would, while
// the whole fleet sends, cost a message for every one or two events. The
// machine keeps every record until an ack names it and sends again what an
// ack skipped (package telemetry, "Confirmation"). A duplicate is
// acknowledged again, which is how a lost ack heals. Acks never hold up
// the consumer: the notes are a bounded map that a timer flushes, and an
// ack that fails is dropped (the machine sends those events again and
// their duplicates are acknowledged). Each replica acknowledges what it
// committed.
//
// The forwarder delivers the operator's kinds (transaction,
// bag-fill-status, bag-replacement, bag-seal, registration) per machine in
// seq order. A transient failure (429, 5xx, timeouts, a refused token)
// parks that machine alone with jittered backoff, honouring Retry-After. A
// refusal for good (400, 404, 409 other than "already delivered", 422)
// moves the event to the failure report, so that the machine's later
// events go on; staff retry or dismiss it over the API or the CLI, and it
// is purged after 30 days. A 409 on a transaction means delivered.
//
// A machine's queue is read a run at a time (up to 64 pending events; then
// the last seq it finished with; then two counts from the indexes alone:
// the seqs between that have arrived, and the pending ones among them), so
// that the hours of transactions a machine sends after an outage cost three
// queries a run rather than three an event. An event goes only once every
// seq since that last one has arrived: with two storing workers (or
// replicas) a machine's events are not stored in seq order. When the counts
// show a gap, a fourth query reads the state of each seq between, to find
// it. The same read transaction reads the stored vouchers of the run's
// transactions: the operator's answer names each transaction's voucher, and
// is written back only where it adds to what the machine's events said (a
// code the operator issued, a validity never printed). The operator's calls of a run go one after the other while the
// recorder commits their deliveries behind them, together with other
// machines' deliveries and lease releases (one commit for many: while the
// consumer holds SQLite's one writer for a batch, each commit of the
// forwarder waits for the whole batch); a run's deliveries are all
// committed before the next run is read, and a run that held all that was
// pending carries its machine's release in the commit of its last delivery.
// A queue with nothing pending is parked off the claim's index until an
// event arrives for it.
//
// # Concurrency and replicas
//
// Several replicas may share one PostgreSQL database and one shared
// subscription: each event is stored by whichever replica received it
// (once, by id), and each machine's queue is delivered by one replica at a
// time under a lease (see package store). A replica that dies between the
// operator's answer and the commit leaves the event pending; the next
// delivery gets a 409, which counts as delivered. The periodic jobs
// (catalogue pulls and pushes, voucher top-ups, the purge) run on the
// replica holding the "jobs" lease.
//
// A [Gateway]'s methods are safe for concurrent use; Run is called once.
//
// # The broker
//
// The gateway relies on the broker keeping its persistent session while it
// is away. Mosquitto's defaults drop QoS 1 messages beyond 1000 queued per
// session (max_queued_messages) and send at most 20 unacknowledged ones at
// a time (max_inflight_messages), which caps a batch at 20 events; run it
// with max_queued_messages 0 (or a bound sized for the longest outage) and
// max_inflight_messages 0 or a few thousand.
//
// What the broker holds stays bounded all the same: a machine sends at
// most 64 records beyond the highest seq the gateway confirmed (telemetry's
// confirm window), and the rest of an outage's backlog waits on its own
// disk. After an hour's outage of 10,000 machines the broker held about
// 4 GB while the gateway worked through 9 GB of backlog (BENCHMARKS.md).
// What the broker holds for the gateway is ahead of all else it sends the
// gateway, its PINGRESPs and the PUBACKs of its acks too: the consumer
// waits minutes for a PINGRESP (pingTimeout) rather than paho's 10 s,
// since a reconnect has the broker send again all it had sent and not yet
// had acknowledged.
//
// Broker restarts: mosquitto 2.0 does not restore a shared subscription
// ($share/GROUP/...) from its persistence file. After a broker restart,
// until the gateway's reconnect has subscribed again, an event a machine
// publishes has no subscriber: the broker acknowledges it and drops it.
// The same happens to a queue the broker held for an absent gateway when
// the broker crashes. The acks close that window: the machine removes a
// record only once the gateway confirmed it, and sends again a record that
// is unconfirmed 30 s (ResendAfter) after it was sent once the gateway
// confirmed a later seq. Once the gateway is subscribed again, the
// machine's next event, at the latest its next heartbeat (60 s), is
// confirmed within AckEvery (5 s), and the missed events go out again at
// most a second after they are 30 s old: worst case about 66 s after the
// gateway is back, and then the usual path to the operator. Nothing is
// sent twice while the gateway is away (no ack, no gap). The operator still
// receives each transaction once: the store drops the repeats as
// duplicates. TestBrokerAndGatewayRestart publishes money right after a
// broker restart, before the gateway has subscribed again, and across a
// restart while the gateway is away, and checks every transaction reaches
// the operator exactly once. Machines with gatewayAcks false (an older
// fleet) still lose that window.
//
// # The till side
//
// Payouts come in two phases (payouts.go): reserve (the money is set
// aside, nothing is paid), then confirm (a voucher is redeemed at the
// operator) or cancel; a reservation left past Options.ReservationTTL is
// cancelled. A confirmation that dies with its replica is taken over after
// 30 s, and the operator's 409 then means it went through. Digital vouchers
// wait, pending, until the operator accepted their transaction; then the
// customer loop (notify.go, on every replica, each step a conditional
// update) queues the code for the [Notifier] or credits the phone's
// deposit account (accounts.go) and queues the voucher's redemption at the
// operator (redeemType 99: the store owes the customer now). Returns taken by hand at a station
// (returns.go) become the station's transaction event, delivered by the
// forwarder like a machine's. Every money route honours an
// Idempotency-Key (tills.go) and writes the audit trail.
//
// # Metrics
//
// GET /metrics is served by github.com/prometheus/client_golang from a
// registry of the gateway's own. Counters: rvm_gateway_events_consumed_total{kind},
// _events_duplicate_total, _events_quarantined_total,
// _events_forwarded_total{kind}, _forward_failures_total{kind} and
// _forward_retries_total{kind} (the operator's errors),
// _voucher_redemptions_total{result}, and the _delivery_latency_seconds
// histogram (from storing to the operator's acceptance). Read from the
// store at each scrape: the gateway's queues (_operator_queue{state},
// _inbox_depth, _quarantine_messages, _machines_online) and per machine
// rvm_machine_online, _bag_fill_ratio, _outbox_depth, _outbox_unconfirmed,
// _fault{fault},
// _containers_today, _deposits_today_grosze and
// _rejections_total{cause}. deploy/grafana/rvm-fleet.json is a dashboard
// of them; a test checks its queries against a real scrape.
//
// # Threat model
//
// Money moves on what the gateway believes, so it trusts each party only
// for what that party can prove.
//
// A machine proves one thing: its serial, as its MQTT username, under the
// broker's ACL `pattern write rvm/%u/#`, `pattern read rvm/%u/cmd/#` and
// `pattern read rvm/%u/ack` (the gateway's user reads rvm/# and writes
// rvm/+/cmd/# and rvm/+/ack). It may lie about anything else, so:
//   - It publishes only under its own rvm/SERIAL/; the broker drops the
//     rest (TestForgedEventsAreRefused, "M-A's topic").
//   - An envelope's machine and kind must be its topic's, and every rvmId
//     its body names (transaction.rvmId, a bag report's rvmId, at any
//     depth, in any letter case, however escaped, each of a repeated
//     member) must be the envelope's (FuzzClassify, TestClaimedRvmID).
//   - Each serial is bound to one rvmId and each rvmId to one serial: when
//     the operator registers the machine (its POST /machine to us, or its
//     answer to the machine's registration, which replaces a binding), or,
//     for a machine registered before, on the first event or status that
//     names one (recorded as first-sight). An event speaking for another
//     rvmId is quarantined (TestForgedEventsAreRefused (b), (c);
//     store.TestBindingsRefuseAnotherMachinesRvmID).
//   - Events are de-duplicated per machine, (serial, id): another machine's
//     event under the same id does not make an honest event a duplicate
//     (it is stored under "ID@SERIAL"; a transaction keeps its plain id, the
//     operator's key). A repeat with another body is quarantined and the
//     first stands; an identical repeat is a silent duplicate
//     (TestForgedEventsAreRefused (c), (d); store.TestDeduplicatesPerMachine).
//   - A voucher code belongs to the machine that issued it first, or to
//     the machine the gateway handed it to in an operator's voucher
//     buffer; its amount, currency, validity and transaction never change.
//     A voucher or transaction event against that is quarantined whole:
//     nothing of it reaches the tills or the operator
//     (TestForgedEventsAreRefused (a);
//     store.TestVoucherBelongsToItsFirstMachine).
//   - A registration must name the topic's serial
//     (TestForgedEventsAreRefused (e)).
//   - An ack goes only to the serial of the topic the event came on, for
//     an envelope naming that serial: a machine cannot have another's
//     records confirmed (an ack it sends itself, which the ACL allows,
//     fools only itself).
//   - What remains: a machine can lie about its own sessions (that is what
//     the operator's fraud rules and bag weights check), and a machine that
//     speaks before its honest owner, first sight, could claim an rvmId the
//     operator has not registered with the gateway; the operator's
//     registration takes it back. A transaction id already used by another
//     machine's transaction is quarantined, not delivered: the operator
//     keys transactions by id alone, so staff settle it with the operator.
//
// A till (the store's POS) holds a token of its own (rvm-gateway tills
// add; the store keeps its SHA-256) that opens only the till routes; on a
// staff route it gets 403. It can look a voucher up and pay it out in two
// phases; a reservation is a conditional update that exactly one till wins
// (TestPOSDoubleRedemption, store.TestReserveConfirmOnce), a confirmation
// tells the operator once, its once-only rule backing it, and a voucher
// whose transaction the operator confirmed as blocked is refused
// (store.TestBlockedConfirmationStopsRedemption). A till cannot create or
// change a voucher, register, reverse or erase an account.
//
// A staff user holds the API token (the dashboard, the failure report,
// accounts, the CLI). Staff can retry or dismiss a refused event and read the
// quarantine; they cannot change an event's body, and a retry goes to the
// operator, who judges it again. A machine that repeats a refused
// registration makes one open report entry per cause, the newest
// (store.TestRegistrationFailuresOneEntryPerCause).
//
// The network is hostile: the broker should run TLS with passwords
// (testbroker.WithTLS shows the set-up), the operator is reached over
// HTTPS with its bearer token, and the gateway's API asks for its own
// bearer token when -api-token is set. The operator is trusted for what it
// answers: machine ids, voucher buffers, and whether a transaction is
// blocked from payment (in its answer to POST /transaction or in its
// confirmation; GET /api/blocked lists them, TestBlockedConfirmationIsRecorded
// and TestBlockedAnswerToTransactionIsRecorded).
package gateway
