package hal

import (
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/physic"
)

// EventKind says what happened.
type EventKind uint8

// The events the hardware reports.
const (
	_              EventKind = iota
	EntryBlocked             // the entry light barrier (at the chute) broke
	EntryCleared             // the entry light barrier cleared
	ChamberBlocked           // a container arrived in the chamber (chamber barrier broke)
	ChamberCleared           // the chamber barrier cleared
	ExitBlocked              // the exit light barrier (point of no return) broke
	ExitCleared              // the exit light barrier cleared: the container dropped
	BarcodeRead              // the scanner saw a code (Barcode says what it read)
	DoorOpened               // the service door opened
	DoorClosed               // the service door closed
	SealScanned              // the seal reader scanned a seal (Seal holds its number)
	DeviceFault              // a device reported a fault (Fault says which)
	ConveyorHalted           // the conveyor stopped by itself at its dead-man limit
)

var eventNames = [...]string{
	EntryBlocked: "entry-blocked", EntryCleared: "entry-cleared",
	ChamberBlocked: "chamber-blocked", ChamberCleared: "chamber-cleared",
	ExitBlocked: "exit-blocked", ExitCleared: "exit-cleared",
	BarcodeRead: "barcode-read", DoorOpened: "door-opened", DoorClosed: "door-closed",
	SealScanned: "seal-scanned", DeviceFault: "device-fault", ConveyorHalted: "conveyor-halted",
}

func (k EventKind) String() string {
	if int(k) < len(eventNames) && eventNames[k] != "" {
		return eventNames[k]
	}
	return "unknown"
}

// Event is one thing the hardware reports. At is when it happened by the
// machine's clock.
type Event struct {
	Kind    EventKind
	At      time.Time
	Barcode Barcode // for BarcodeRead
	Seal    string  // for SealScanned
	Fault   Fault   // for DeviceFault
}

// ReadStatus says how well the scanner read a code.
type ReadStatus uint8

// Scanner read outcomes. A container whose code was never seen produces no
// BarcodeRead event at all; the controller notices the absence.
const (
	ReadOK      ReadStatus = iota // decoded: Code holds the digits
	ReadDamaged                   // a code was seen but could not be decoded
)

// Barcode is what the scanner read.
type Barcode struct {
	Status    ReadStatus
	Code      string    // the decoded digits, for ReadOK
	Symbology Symbology // what the scanner says it read; SymUnknown when it does not say
}

// Symbology is the kind of barcode a scanner decoded.
type Symbology uint8

// The symbologies a container or a seal can carry.
const (
	SymUnknown Symbology = iota
	SymEAN8
	SymEAN13
	SymUPCA
	SymUPCE
	SymCode128
)

var symNames = [...]string{SymUnknown: "unknown", SymEAN8: "EAN-8", SymEAN13: "EAN-13",
	SymUPCA: "UPC-A", SymUPCE: "UPC-E", SymCode128: "Code128"}

func (s Symbology) String() string {
	if int(s) < len(symNames) {
		return symNames[s]
	}
	return "unknown"
}

// Fault names a hardware fault.
type Fault string

// Faults the hardware can report. The controller latches each of them.
const (
	FaultJam         Fault = "jam"
	FaultScannerDead Fault = "scanner-dead"
	FaultDoorOpen    Fault = "door-open"
	FaultSensor      Fault = "sensor"
	FaultPaperOut    Fault = "paper-out"  // the voucher printer has no paper
	FaultCoverOpen   Fault = "cover-open" // the voucher printer's cover is open
)

// Error lets a driver return a Fault as an error (wrapped with its own
// prefix); the controller finds it with errors.As and latches it.
func (f Fault) Error() string { return string(f) }

// LoadCell is a weighing cell behind an ADC (the chamber scale, the bag scale).
type LoadCell interface {
	conn.Resource
	// ReadRaw returns one conversion in raw ADC counts. It blocks at most for
	// one conversion period; a cell that does not answer returns an error.
	ReadRaw() (int32, error)
}

// MetalSensor is the inductive sensor beside the chamber.
type MetalSensor interface {
	conn.Resource
	// Metal reports whether metal is in front of the sensor now.
	Metal() (bool, error)
}

// Shape is what the shape sensor measured of the container in the chamber.
type Shape struct {
	Height   physic.Distance
	Diameter physic.Distance
}

// ShapeSensor measures the container in the chamber. Where a machine has no
// such sensor it is nil and the shape check is skipped.
type ShapeSensor interface {
	conn.Resource
	Measure() (Shape, error)
}

// Conveyor moves containers between the chute, the chamber and the exit.
//
// Every run is bounded: Forward and Reverse take a dead-man limit after which
// the belt stops by itself and a ConveyorHalted event is reported, so a
// controller that dies mid-run never leaves the motor running. A new command
// replaces the running one. Stop is idempotent.
type Conveyor interface {
	conn.Resource
	Forward(limit time.Duration) error
	Reverse(limit time.Duration) error
	Stop() error
}

// Gate is the sorter flap (or a diverter) after the chamber. Like the
// conveyor, every move is bounded: Pulse opens it for d at most and it
// returns to rest by itself, so a controller that dies mid-move never
// leaves it open. A new Pulse replaces the running one.
type Gate interface {
	conn.Resource
	Pulse(d time.Duration) error
}

// Ticket is what the voucher printer prints.
type Ticket struct {
	Code       string // the voucher code, encoded as the barcode or QR
	Amount     string // "12.50 PLN"
	Grosze     int64  // the same amount in grosze; printers format it themselves when set
	PrintType  int    // drsapi.PrintBarcode or drsapi.PrintQR
	ValidUntil time.Time
	Lines      []string // free text (store, totals)
}

// Printer prints vouchers.
type Printer interface {
	conn.Resource
	// Print prints one ticket and returns nil only once the printer has
	// taken it whole. An error that wraps a Fault (FaultPaperOut,
	// FaultCoverOpen) names what a person must fix; any error means the
	// ticket may be missing or incomplete and must be printed again.
	Print(t Ticket) error
}

// Scanner is a barcode reader that reports what it reads as BarcodeRead
// (or SealScanned) events on a channel.
type Scanner interface {
	conn.Resource
	// NextContainer forgets the codes read so far: a code read twice for
	// one container is reported once, and read again for the next
	// container it is reported again.
	NextContainer()
}

// Display shows the customer and staff what is going on.
type Display interface {
	Show(msg string) error
}
