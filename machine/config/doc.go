// Package config is the controller's validated configuration: read once at
// start from a JSON file, patched later by the MQTT config command, and
// never half-applied.
//
// # Usage
//
//	cfg, err := config.Load(path) // "" gives Default()
//	next, err := cfg.With(json.RawMessage(`{"idleTimeout":"45s"}`))
//	data, _ := json.Marshal(next)   // the same keys; parses back to next
//
// # Strictness
//
// Like Klipper's configuration, every key has bounds and an unknown key is
// an error that names it and suggests the nearest known one
// (`config: unknown key "idleTimout" (did you mean "idleTimeout"?)`): a typo
// in a field machine's configuration must not silently leave a default in
// place. A value out of bounds names the key, the value and the bounds; a
// wrong JSON type (a number where a duration string belongs, null, 10.5 for a
// count) names the key. A key given twice is an error too. Errors wrap
// ErrSyntax, ErrUnknownKey, ErrType, ErrOutOfBounds or ErrInvalid.
//
// # Keys
//
// Durations are Go duration strings ("30s", "1m30s"); counts and percentages
// are integer literals.
//
//   - idleTimeout (duration, 5s..10m, default 30s): a session with no insert
//     for this long finishes by itself, with payout voucher.
//   - acceptTestPhase (bool, default false): accept products whose
//     collectionStatusId is 3 (test phase); otherwise they are rejected
//     with cause 6.
//   - shapeTolerancePct (0..50, default 10): how far height or diameter may
//     be off the catalogue's before the container counts as crushed (cause 2).
//   - weightTolerancePct (0..100, default 20): the weight window around
//     weight.withCap used when the catalogue has no weight.min or max.
//   - fraudBlockThreshold (0..100, default 2): fraud rejections (cause 1:
//     pull-back, a label on the wrong container, metal disagreeing with the
//     packaging) a session may have and still pay. A session with more is
//     sent with transactionBlocked true and pays no voucher. One or two can
//     be a customer's clumsiness (a bottle grabbed back by reflex, a dented
//     can weighed light); a third in one session is a pattern, and a
//     string-trick customer repeats the trick. 0 blocks at the first fraud.
//   - bagMaxContainers (1..5000, default 400): containers in a full bag.
//   - bagMaxKg (number, 0.1..100, default 15): mass of containers in a full
//     bag, kept exact to the milligram. The bag is full at whichever limit
//     comes first.
//   - bagWarnPct (1..99, default 80): fill level at which the bag-fill-status
//     warning is reported.
//   - voucherValidityDays (1..365, default 30): how long a voucher can be
//     redeemed.
//   - voucherPrintType (0..1, default 0): 0 prints the code as Code128 /
//     EAN-13, 1 as a QR code.
//   - conveyorLimit (duration, 100ms..30s, default 5s): dead-man limit of one
//     conveyor run; a run not completed by then stops the belt and is a jam.
//   - bagSettle (duration, 0..5s, default 300ms): time the bag scale is given
//     to settle after a drop before its reading confirms the container.
//   - scaleResolutionMg (1..10000, default 100): resolution of the scales in
//     milligrams; smaller differences are noise.
//   - heartbeatInterval (duration, 5s..1h, default 60s): period of the MQTT
//     heartbeat event; while the broker is away, a heartbeat is queued only
//     when the machine's health (uptime aside) changed.
//   - outboxBudgetMB (1..10000, default 64): disk the undelivered outbox may
//     use, in MiB; beyond it intake is blocked so that no record is lost.
//     Records the gateway has not confirmed count (see gatewayAcks).
//   - gatewayAcks (bool, default true): keep every outbox record until the
//     gateway confirms it on rvm/SERIAL/ack, and send again what it
//     evidently missed (package telemetry, "Confirmation"); this closes the
//     loss after a broker restart. false: the broker's acknowledgement is
//     enough, for a fleet whose gateway does not confirm yet (with true,
//     such a machine keeps every record until outboxBudgetMB blocks
//     intake). Read at start, like heartbeatInterval.
//   - serial (string, [A-Za-z0-9_-]{1,64}, default "RVM-SIM-0001"): the
//     machine's serial number, also its MQTT topic segment.
//   - name, model, manufacturer, drsCpNo (strings, at most 256 bytes, default
//     empty): the machine registration's name, model, manufacturer and
//     collection point number (POST /machine).
//   - containerBatchMax (1..1000, default 250) and containerBatchInterval
//     (duration, 100ms..10m, default 5s): a session's containers go to the
//     fleet as one "containers" event per containerBatchMax containers or
//     per containerBatchInterval from the first waiting one, whichever comes
//     first; the session's transaction sends the rest just before itself.
//     The interval serves live counts and runs only while the machine is
//     connected; the count bounds a batch's size (about 30 bytes a
//     container), so that offline nearly every session is one batch.
//   - wasteTypes (array of WasteTypeEnum integers, 1..13 or 99, no
//     duplicates, at least one, default [7, 3] for PET and aluminium): what
//     the bin takes, reported with bag-fill-status.
//   - bagLitrage (10..2000, default 240): the bag's capacity in litres, for
//     machine registration.
//   - consoleLockout (1s..24h, default "5m"): how long the technician
//     console stays locked after five wrong PINs (internal/service).
//   - driftWarnG (1..10000, default 20): the drift watch's limit: after a
//     bag exchange, an empty bag scale off the last bag's tare by more
//     grams raises a service warning.
//   - pins (object, default {}): the Pi's wiring, which pin or port each
//     device is on. Config keeps it as raw JSON; package hal/periph/board
//     parses it at start, and its errors name each key and pin. `rvmd run`
//     without -sim needs it.
//
// # Concurrency
//
// A Config is a value. With returns a new one and leaves its receiver as it
// was, so a controller can swap configurations atomically.
package config
