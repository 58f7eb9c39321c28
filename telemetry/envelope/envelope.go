package envelope

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Version is the envelope version, the "v" field.
const Version = 1

// Event kinds the machine publishes under rvm/SERIAL/evt/KIND.
const (
	KindTransaction    = "transaction"     // body: drsapi.Transaction
	KindVoucher        = "voucher"         // body: Voucher
	KindBagFillStatus  = "bag-fill-status" // body: drsapi.BagFillStatus
	KindBagReplacement = "bag-replacement" // body: drsapi.BagReplacement
	KindBagSeal        = "bag-seal"        // body: drsapi.BagSeal
	KindContainer      = "container"       // body: ContainerEvent (ledgers before batches)
	KindContainers     = "containers"      // body: ContainerBatch
	KindFault          = "fault"           // body: FaultEvent
	KindHeartbeat      = "heartbeat"       // body: Heartbeat
	KindRegistration   = "registration"    // body: drsapi machine registration request
	KindAudit          = "audit"           // body: AuditEvent (technician console)
	KindServiceWarning = "service-warning" // body: ServiceWarning (drift watch)
)

// Envelope wraps every event payload.
type Envelope struct {
	V       int             `json:"v"`
	ID      string          `json:"id"`
	Machine string          `json:"machine"`
	RvmID   string          `json:"rvmId"`
	Seq     int64           `json:"seq"`
	TS      string          `json:"ts"`
	Kind    string          `json:"kind"`
	Body    json.RawMessage `json:"body"`
}

// ErrInvalid is wrapped by Validate's errors.
var ErrInvalid = errors.New("envelope: invalid")

// Validate checks the fields every consumer relies on.
func (e *Envelope) Validate() error {
	switch {
	case e.V != Version:
		return fmt.Errorf("%w: version %d", ErrInvalid, e.V)
	case e.ID == "":
		return fmt.Errorf("%w: no id", ErrInvalid)
	case e.Machine == "":
		return fmt.Errorf("%w: no machine", ErrInvalid)
	case e.Seq <= 0:
		return fmt.Errorf("%w: seq %d", ErrInvalid, e.Seq)
	case e.Kind == "":
		return fmt.Errorf("%w: no kind", ErrInvalid)
	case len(e.Body) == 0 || e.Body[0] != '{':
		return fmt.Errorf("%w: body is not an object", ErrInvalid)
	}
	return nil
}

// EventTopic is rvm/SERIAL/evt/KIND.
func EventTopic(serial, kind string) string { return "rvm/" + serial + "/evt/" + kind }

// StatusTopic is rvm/SERIAL/status (retained).
func StatusTopic(serial string) string { return "rvm/" + serial + "/status" }

// CommandTopic is rvm/SERIAL/cmd/NAME.
func CommandTopic(serial, name string) string { return "rvm/" + serial + "/cmd/" + name }

// ReplyTopic is rvm/SERIAL/cmd-reply.
func ReplyTopic(serial string) string { return "rvm/" + serial + "/cmd-reply" }

// AckTopic is rvm/SERIAL/ack: the gateway's confirmations of what it
// committed, to the machine.
func AckTopic(serial string) string { return "rvm/" + serial + "/ack" }

// ParseEventTopic splits rvm/SERIAL/evt/KIND.
func ParseEventTopic(topic string) (serial, kind string, ok bool) {
	p := strings.Split(topic, "/")
	if len(p) != 4 || p[0] != "rvm" || p[2] != "evt" || p[1] == "" || p[3] == "" {
		return "", "", false
	}
	return p[1], p[3], true
}

// ParseTopicSerial returns SERIAL of any rvm/SERIAL/... topic.
func ParseTopicSerial(topic string) (string, bool) {
	p := strings.Split(topic, "/")
	if len(p) < 3 || p[0] != "rvm" || p[1] == "" {
		return "", false
	}
	return p[1], true
}

// Ack is the body of a message on rvm/SERIAL/ack: the gateway has committed
// (stored, already held, or refused for good) the machine's events with
// these seqs, as inclusive ranges [from, to], sorted and merged.
type Ack struct {
	V    int        `json:"v"` // AckVersion
	Seqs [][2]int64 `json:"seqs"`
}

// AckVersion is the Ack's "v".
const AckVersion = 1

// Status is the retained rvm/SERIAL/status payload.
type Status struct {
	Online        bool    `json:"online"`
	Machine       string  `json:"machine"`
	Firmware      string  `json:"firmware,omitempty"`
	RvmID         string  `json:"rvmId,omitempty"`
	State         string  `json:"state,omitempty"`
	IntakeBlocked bool    `json:"intakeBlocked"`
	BlockReason   string  `json:"blockReason,omitempty"`
	BagFill       float64 `json:"bagFill"`
	BagCount      int     `json:"bagCount"`
	Fault         string  `json:"fault,omitempty"`
	OutboxDepth   int64   `json:"outboxDepth"`
	OutboxBytes   int64   `json:"outboxBytes"`
	// OutboxUnconfirmed counts the records the gateway has not yet
	// confirmed (rvm/SERIAL/ack); they stay on the machine's disk.
	OutboxUnconfirmed int64  `json:"outboxUnconfirmed"`
	LastTransactionAt string `json:"lastTransactionAt,omitempty"`
	TS                string `json:"ts"`
}

// Voucher is the body of a "voucher" event: a voucher printed or sent.
// Amount is in PLN, at most two decimals (money.Grosze marshals so).
type Voucher struct {
	ID            string          `json:"id"`
	TransactionID string          `json:"transactionId"`
	Amount        json.RawMessage `json:"amount"`
	Currency      string          `json:"currency"`
	PrintType     int             `json:"printType"`
	IssuedAt      string          `json:"issuedAt"`
	ValidUntil    string          `json:"validUntil"`
	Phone         string          `json:"phone,omitempty"`
	// Payout is "account" for a deposit to the phone's account; a phone
	// without it is a digital voucher.
	Payout string `json:"payout,omitempty"`
}

// ContainerEvent is the body of a "container" event: one container
// decided. Cause 0 means accepted: DepositGrosze is then the deposit it will
// credit once the bag confirms it (a power cut in between may still hand it
// back; the session's transaction is the record of money).
type ContainerEvent struct {
	TransactionID      string `json:"transactionId"`
	EAN                string `json:"ean"`
	RejectionCauseCode int    `json:"rejectionCauseCode"`
	WeightMg           int64  `json:"weightMg"`
	DepositGrosze      int64  `json:"depositGrosze"`
}

// FaultEvent is the body of a "fault" event.
type FaultEvent struct {
	Fault   string `json:"fault"`
	Latched bool   `json:"latched"` // false when a technician cleared it
	By      string `json:"by,omitempty"`
}

// AuditEvent is the body of an "audit" event: one entry of the technician
// console's audit log (a login, a refusal, a lockout, an act).
type AuditEvent struct {
	Session string `json:"session"`
	Action  string `json:"action"`
	OK      bool   `json:"ok"`
	Detail  string `json:"detail,omitempty"`
}

// ServiceWarning is the body of a "service-warning" event: the machine
// diagnosed something a technician should look at before it costs money
// (the empty bag scale drifted from its tare).
type ServiceWarning struct {
	Warning string `json:"warning"`
	Cell    string `json:"cell,omitempty"`
	DriftMg int64  `json:"driftMg,omitempty"`
	LimitMg int64  `json:"limitMg,omitempty"`
}

// Heartbeat is the body of a "heartbeat" event, with the operator's notion
// of machine health: statusCode 0 operational, 1 full, 2 out of service.
type Heartbeat struct {
	StatusCode       int    `json:"statusCode"`
	PowerStatus      string `json:"powerStatus"`
	LastCleaningDate string `json:"lastCleaningDate,omitempty"`
	Uptime           int64  `json:"uptimeS"`
}

// Command is a message on rvm/SERIAL/cmd/NAME. ID makes it idempotent: a
// machine answers a repeated id again without acting twice.
type Command struct {
	ID   string          `json:"id"`
	TS   string          `json:"ts,omitempty"`
	Body json.RawMessage `json:"body,omitempty"`
}

// Command names.
const (
	CmdCatalog    = "catalog"     // body: CatalogUpdate
	CmdVouchers   = "vouchers"    // body: VoucherTopUp
	CmdConfig     = "config"      // body: an object of config keys to set
	CmdBlock      = "block"       // body: {"reason": "..."}
	CmdUnblock    = "unblock"     // body: {}
	CmdSetRvmID   = "set-rvm-id"  // body: {"rvmId": "<uuid>"}
	CmdStatus     = "status"      // body: {}; the reply carries the Status
	CmdClearFault = "clear-fault" // body: {"by": "..."}
)

// Reply answers a Command on rvm/SERIAL/cmd-reply.
type Reply struct {
	ID     string          `json:"id"`
	Name   string          `json:"name"`
	OK     bool            `json:"ok"`
	Error  string          `json:"error,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
}

// CatalogUpdate is the body of a catalog command. Full replaces the whole
// catalogue; a delta upserts Products and removes Removed. Version counts up;
// a machine ignores a version not above its own (answering ok, stale).
type CatalogUpdate struct {
	Version  int64             `json:"version"`
	Full     bool              `json:"full"`
	Products []json.RawMessage `json:"products"`
	Removed  []string          `json:"removed,omitempty"`
}

// VoucherTopUp is the body of a vouchers command: operator-issued voucher
// codes for the machine's buffer.
type VoucherTopUp struct {
	Vouchers []BufferedVoucher `json:"vouchers"`
}

// BufferedVoucher is one operator-issued code (the operator's VoucherData).
type BufferedVoucher struct {
	ID         string `json:"id"`
	PrintType  int    `json:"printType"`
	IssuedAt   string `json:"issuedAt,omitempty"`
	ValidUntil string `json:"validUntil,omitempty"`
}
