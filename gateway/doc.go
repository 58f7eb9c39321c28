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
// duplicates of their envelope id. Messages are stored in batches, one
// commit per batch, by a worker; paho's goroutine only queues them. A
// message that is oversized, not JSON, fails [envelope.Envelope.Validate],
// or whose topic names another machine or kind than its envelope, is
// quarantined with its raw payload and reason, and acknowledged.
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
// rvm_machine_online, _bag_fill_ratio, _outbox_depth, _fault{fault},
// _containers_today, _deposits_today_grosze and
// _rejections_total{cause}. deploy/grafana/rvm-fleet.json is a dashboard
// of them; a test checks its queries against a real scrape.
package gateway
