package escpos

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/internal/ean"
)

// Print types of the operator's voucher (drsapi.PrintBarcode, PrintQR).
const (
	PrintBarcode = 0
	PrintQR      = 1
)

// The commands, as the Epson ESC/POS reference spells them.
var (
	cmdInit      = []byte{0x1b, '@'}                           // ESC @
	cmdCenter    = []byte{0x1b, 'a', 1}                        // ESC a 1
	cmdLeft      = []byte{0x1b, 'a', 0}                        // ESC a 0
	cmdBoldOn    = []byte{0x1b, 'E', 1}                        // ESC E 1
	cmdBoldOff   = []byte{0x1b, 'E', 0}                        // ESC E 0
	cmdSizeBig   = []byte{0x1d, '!', 0x11}                     // GS ! : double width and height
	cmdSizeNorm  = []byte{0x1d, '!', 0x00}                     // GS ! 0
	cmdHRIBelow  = []byte{0x1d, 'H', 2}                        // GS H 2: the code's digits under the bars
	cmdBarHeight = []byte{0x1d, 'h', 80}                       // GS h 80 dots
	cmdBarWidth  = []byte{0x1d, 'w', 2}                        // GS w 2: module width
	cmdFeedCut   = []byte{0x1d, 'V', 65, 3}                    // GS V 65 3: feed to the cutter (+3) and cut
	cmdQRModel2  = []byte{0x1d, '(', 'k', 4, 0, 49, 65, 50, 0} // fn 165: model 2
	cmdQRPrint   = []byte{0x1d, '(', 'k', 3, 0, 49, 81, 48}    // fn 181: print the stored symbol
)

// Layout is what a voucher says besides the code and the amount.
type Layout struct {
	Header     []string       // the store's name and address, centred, first line bold
	Title      string         // "BON ZWROTU KAUCJI"
	ValidLabel string         // "Ważny do"
	Footer     []string       // free text under the code
	Location   *time.Location // the validity date's time zone; UTC
}

// DefaultLayout is a Polish voucher with no store header.
var DefaultLayout = Layout{Title: "BON ZWROTU KAUCJI", ValidLabel: "Ważny do"}

// Render returns the ESC/POS stream of one voucher: initialise, code page,
// header, title, amount, the code as printType asks (0: EAN-13 when the code
// is a valid EAN-13, else Code128, with GS k; 1: a QR code with GS ( k),
// validity date, footer and the ticket's lines, cut.
func Render(t hal.Ticket, o *Opts) ([]byte, error) {
	var opts Opts
	if o != nil {
		opts = *o
	}
	if err := opts.fill(); err != nil {
		return nil, err
	}
	return render(nil, t, &opts)
}

func render(b []byte, t hal.Ticket, o *Opts) ([]byte, error) {
	if t.Code == "" {
		return nil, errors.New("escpos: ticket has no voucher code")
	}
	amount, err := formatAmount(t)
	if err != nil {
		return nil, err
	}
	cp, l := o.cp, o.Layout
	text := func(s string) { b = append(cp.encode(b, s), '\n') }
	b = append(b, cmdInit...)
	if cp.N != NoSelect {
		b = append(b, 0x1b, 't', cp.N) // ESC t n
	}
	b = append(b, cmdCenter...)
	for i, h := range l.Header {
		if i == 0 {
			b = append(b, cmdBoldOn...)
			text(h)
			b = append(b, cmdBoldOff...)
			continue
		}
		text(h)
	}
	if len(l.Header) > 0 {
		b = append(b, '\n')
	}
	if l.Title != "" {
		b = append(b, cmdBoldOn...)
		text(l.Title)
		b = append(b, cmdBoldOff...)
	}
	b = append(b, cmdSizeBig...)
	text(amount)
	b = append(b, cmdSizeNorm...)
	b = append(b, '\n')
	switch t.PrintType {
	case PrintBarcode:
		if b, err = barcode(b, t.Code); err != nil {
			return nil, err
		}
	case PrintQR:
		if b, err = qr(b, t.Code, o.QRModule, o.QRLevel); err != nil {
			return nil, err
		}
		text(t.Code)
	default:
		return nil, fmt.Errorf("escpos: print type %d (want 0 barcode or 1 QR)", t.PrintType)
	}
	b = append(b, '\n')
	if !t.ValidUntil.IsZero() {
		text(l.ValidLabel + ": " + t.ValidUntil.In(l.Location).Format("02.01.2006"))
	}
	for _, s := range l.Footer {
		text(s)
	}
	for _, s := range t.Lines {
		text(s)
	}
	b = append(b, cmdLeft...)
	b = append(b, cmdFeedCut...)
	return b, nil
}

// formatAmount writes the amount as Poles read it: "1,50 zł".
func formatAmount(t hal.Ticket) (string, error) {
	if t.Grosze == 0 && t.Amount != "" {
		return t.Amount, nil
	}
	if t.Grosze < 0 {
		return "", fmt.Errorf("escpos: negative amount %d grosze", t.Grosze)
	}
	return strconv.FormatInt(t.Grosze/100, 10) + "," + fmt.Sprintf("%02d", t.Grosze%100) + " zł", nil
}

// barcode appends GS k: EAN-13 (m = 67) for a valid EAN-13, else Code128
// (m = 73) in code set B, which the data must fit (printable ASCII).
func barcode(b []byte, code string) ([]byte, error) {
	b = append(b, cmdHRIBelow...)
	b = append(b, cmdBarHeight...)
	b = append(b, cmdBarWidth...)
	if norm, kind, err := ean.Normalize(code); err == nil && kind == ean.EAN13 && norm == code {
		b = append(b, 0x1d, 'k', 67, 13)
		b = append(b, code...)
		return append(b, '\n'), nil
	}
	if len(code) > 253 {
		return nil, fmt.Errorf("escpos: code %q is too long for Code128", code)
	}
	for i := 0; i < len(code); i++ {
		if code[i] < 0x20 || code[i] > 0x7e || code[i] == '{' {
			return nil, fmt.Errorf("escpos: code %q does not fit Code128 set B", code)
		}
	}
	b = append(b, 0x1d, 'k', 73, byte(len(code)+2), '{', 'B')
	b = append(b, code...)
	return append(b, '\n'), nil
}

// qr appends the GS ( k sequence: model 2, module size, error correction,
// store the data, print it.
func qr(b []byte, code string, module int, level byte) ([]byte, error) {
	n := len(code) + 3
	if n > 7092 {
		return nil, fmt.Errorf("escpos: code of %d bytes is too long for a QR code", len(code))
	}
	b = append(b, cmdQRModel2...)
	b = append(b, 0x1d, '(', 'k', 3, 0, 49, 67, byte(module)) // fn 167: module size
	b = append(b, 0x1d, '(', 'k', 3, 0, 49, 69, level)        // fn 169: error correction
	b = append(b, 0x1d, '(', 'k', byte(n), byte(n>>8), 49, 80, 48)
	b = append(b, code...) // fn 180: store
	b = append(b, cmdQRPrint...)
	return append(b, '\n'), nil
}
