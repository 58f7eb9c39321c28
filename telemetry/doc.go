// Package telemetry hands everything the machine records to the fleet over
// MQTT (docs/interfaces.md, "MQTT") and takes the fleet's commands, through every
// outage: a broker that is down for a day, a power cut mid-send, a paho token
// that reports success it did not get.
//
// The ledger appends each event to the SQLite outbox (package outbox) in the
// same transaction as the fact it reports. A [Publisher] drains that outbox
// in sequence order with QoS 1 and marks a record sent only once the
// broker's PUBACK for it arrived on the connection it was sent on. After
// every (re)connect it sends every record not yet sent again, from the
// first unacknowledged one, so a consumer sees each seq at least once and
// in order; repeats carry the same id, and consumers de-duplicate on id.
// With [Options.GatewayAcks] (rvmd's default) a record is deleted only once
// the gateway has also confirmed it (see "Confirmation").
//
// # Usage
//
//	p, err := telemetry.NewPublisher(db, telemetry.Options{
//		Broker: "ssl://mqtt.example:8883", Serial: "A1",
//		Username: "A1", Password: pw, TLS: tlsCfg,
//		StatusFunc: ctrl.Status, Commands: ctrl,
//		HeartbeatFunc: ctrl.Heartbeat,
//		GatewayAcks: true, // keep each record until the gateway confirms it
//	})
//	go p.Run(ctx)      // connects, drains, reconnects with backoff
//	ledger.OnCommit(p.Notify)
//	...
//	err = p.Drain(ctx) // every record acknowledged by the broker (rvmd simulate -mqtt)
//
// [OverBudget] tells the controller when the outbox holds more than its
// disk budget; the controller then blocks intake rather than drop a money
// event, and its status says so. It counts every record still on disk,
// unconfirmed ones included: when the gateway has been away too long,
// intake stops rather than a transaction be lost.
//
// # The pipeline
//
// Per connection, a reader fetches the outbox in batches (so memory does
// not grow with its depth), the sender publishes up to [Options.Window]
// records ahead of their PUBACKs, and an acker waits for the PUBACKs in
// send order. Acknowledged seqs go to a remover that records them with
// [outbox.Ack], many per SQLite transaction, so the window never waits for
// an fsync; a run from the oldest record only moves a mark. The remover is
// the publisher's one writer: the gateway's confirmations take the same
// path ([outbox.Confirm]), and the rows both sent and confirmed are
// deleted by [outbox.Sweep] once acknowledgements pause. Bodies the ledger
// wrote compact go out without a second scan; the remover commits at once
// when the last publish in flight was acknowledged. A tcp:// broker's
// connection is read through a buffer and written by a flusher
// (internal/mqttconn): paho reads a PUBACK in three system calls on a bare
// socket and writes every packet with its own, while 64 PUBACKs arrive
// together and the sender queues publishes faster than the kernel takes
// them. The drain runs at 1.0-1.4 times raw paho's rate to the same
// mosquitto (three machines), and at 0.64-0.79 of raw paho given the
// same connection (`rvmd bench-mqtt [-raw-buffered]`, BENCHMARKS.md).
//
// # Confirmation
//
// A broker's PUBACK does not prove that the gateway will see the event: a
// mosquitto restart forgets the gateway's shared subscription, and until
// the gateway subscribes again it acknowledges events and drops them (the
// same when it crashes holding a queue for an absent gateway). So the
// gateway confirms what it committed: at most every few seconds per
// machine, rvm/SERIAL/ack carries {"v":1,"seqs":[[a,b],...]}, the ranges of
// seqs it stored (or held already, or refused for good) since its last ack
// (docs/interfaces.md). The publisher subscribes to it on its persistent
// session, and records the ranges as confirmed. A record is "sent" once
// the broker acknowledged it (Depth no longer counts it) and "confirmed"
// once the gateway named it; only then may it be deleted.
//
// The gap rule says what to send again: a record sent but unconfirmed for
// [Options.ResendAfter] (30 s), whose seq is below the highest seq the
// gateway confirmed, was evidently missed, and goes out again with its
// id, seq and bytes (the resender, per connection, through the same
// window). While the gateway is away no ack arrives and nothing is sent
// twice; once it is back, the next event it confirms (at the latest the
// next heartbeat) shows the gap. A repeat the gateway already holds is
// confirmed again, which also heals a lost ack. After a restart every
// unconfirmed record counts as sent at start. A record the gateway never
// confirms (one it cannot parse) goes out again every ResendAfter once
// later ones are confirmed, and stays on disk; the status's
// outboxUnconfirmed shows it.
//
// The confirmations also pace the machine: it sends at most
// [Options.ConfirmWindow] (64) records beyond the highest seq the gateway
// confirmed, and the rest wait in the outbox. A fleet coming back from an
// hour's outage then keeps its backlog on the machines' disks, 64 records
// each in the broker at a time, instead of pouring gigabytes into the
// broker's memory faster than the gateway can store them; and while the
// gateway is away but the broker is up, the broker holds 64 records per
// machine, not the whole absence. A record the gateway missed does not
// hold the window: the confirmations of later ones move it on.
//
// Without GatewayAcks (rvmd's config key gatewayAcks false; rvmd simulate
// -mqtt, which must finish against a bare broker) the broker's PUBACK also
// confirms, as before confirmations existed. A machine with GatewayAcks on
// and a gateway that does not confirm keeps every record until its disk
// budget blocks intake: deploy the gateway first.
//
// # Connections and epochs
//
// Each connection is its own paho client (AutoReconnect off). paho completes
// a QoS 1 token with a nil error when it resends a stored message after a
// reconnect, without any PUBACK (paho README; issue 563): with a fresh
// client per connection, tokens of a dead connection can never complete
// that way, and each connection has an epoch number; a completion is only
// trusted from the epoch that is current. Reconnects wait a jittered,
// doubling backoff between [Options.Backoff] Min and Max; only a
// connection that lasted resets it. The persistent session
// (CleanSession false, client id "rvm-SERIAL") keeps the command and ack
// subscriptions, and what is queued for them, at the broker while the
// machine is away.
//
// # Status, last will and heartbeats
//
// The retained rvm/SERIAL/status carries [Options.StatusFunc]'s status with
// online, machine, firmware, outbox depth, unconfirmed records and ts
// filled in; it is published
// on every connect and after [Publisher.StatusChanged]. The last will sets
// it offline when the connection dies; a clean shutdown (Run's context
// ends) publishes offline itself, because a clean DISCONNECT does not fire
// the will.
//
// Heartbeats go through the outbox like every other event: the contract
// wants seq to count up per machine without gaps, and only the outbox hands
// out seq. While the broker is away Run appends only news: a heartbeat
// whose health (uptime aside) differs from the last one appended. The
// fleet still learns afterwards how the machine fared, and an outage of the
// whole fleet's broker does not queue, in every machine, 60 heartbeats an
// hour that all say the same ahead of what matters.
//
// [Options.OnLink] hears each change of the connection (up on connect,
// down when it dies). rvmd passes it to the controller, which closes its
// container batches by age only while the link is up: offline, a batch
// waits for its full count or its transaction, so an outage fills the
// outbox with as few batches as it can.
//
// # Commands
//
// Commands on rvm/SERIAL/cmd/NAME are queued by paho's handler and applied
// one at a time by a worker goroutine, in arrival order, through
// [Options.Commands]. Each reply is kept in the cmd_log table under the
// command's id, so a repeated id (the broker redelivering, the cloud
// retrying) gets the same reply again without the handler acting twice.
// A malformed command gets an error reply and changes nothing. The status
// command is answered by the publisher itself, fresh every time.
//
// A handler that applied a command and a crash before cmd_log was written
// would see the command again after restart; handlers whose effect must not
// repeat (a voucher top-up) should themselves be idempotent on cmd.ID.
//
// # Deployment
//
// Each machine's MQTT username is its serial. A mosquitto ACL that keeps
// machines apart (tested in acl_test.go); the gateway (admin) writes the
// acks:
//
//	user admin
//	topic readwrite #
//
//	pattern write rvm/%u/#
//	pattern read rvm/%u/cmd/#
//	pattern read rvm/%u/ack
//
// # Concurrency
//
// A Publisher's methods are safe for concurrent use. Run must be called
// once. Notify, StatusChanged and Stats never block.
package telemetry
