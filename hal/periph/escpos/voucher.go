package escpos

import (
	"fmt"
	"strings"
	"time"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/internal/money"
)

// Voucher is one voucher as a person types it on a command line (rvmd
// voucher-render): amount in złoty ("1.50" or "1,50"), validity as a date
// (2006-01-02) or an RFC 3339 time, empty for none.
type Voucher struct {
	Code       string
	Amount     string
	PrintType  int
	ValidUntil string
}

// Ticket checks v and turns it into the ticket the printer prints. Each
// error names the bad input.
func (v Voucher) Ticket() (hal.Ticket, error) {
	if v.Code == "" {
		return hal.Ticket{}, fmt.Errorf("escpos: voucher code is empty")
	}
	g, err := money.ParsePLN(strings.Replace(v.Amount, ",", ".", 1))
	if err != nil || g <= 0 {
		return hal.Ticket{}, fmt.Errorf("escpos: amount %q is not a positive amount in złoty with at most two decimals", v.Amount)
	}
	if v.PrintType != PrintBarcode && v.PrintType != PrintQR {
		return hal.Ticket{}, fmt.Errorf("escpos: print type %d (want 0 barcode or 1 QR)", v.PrintType)
	}
	t := hal.Ticket{Code: v.Code, Grosze: int64(g), Amount: g.String() + " PLN", PrintType: v.PrintType}
	if v.ValidUntil != "" {
		if t.ValidUntil, err = time.Parse(time.DateOnly, v.ValidUntil); err != nil {
			if t.ValidUntil, err = time.Parse(time.RFC3339, v.ValidUntil); err != nil {
				return hal.Ticket{}, fmt.Errorf("escpos: valid-until %q is neither a date (2006-01-02) nor an RFC 3339 time", v.ValidUntil)
			}
		}
	}
	return t, nil
}
