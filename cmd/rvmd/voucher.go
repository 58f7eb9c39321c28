package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/deposit-rvm/rvm/hal/periph/escpos"
)

// runVoucherRender writes the ESC/POS stream of one voucher to stdout.
func runVoucherRender(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rvmd voucher-render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var v escpos.Voucher
	fs.StringVar(&v.Code, "code", "", "the voucher `code`")
	fs.StringVar(&v.Amount, "amount", "", "the amount in złoty, as 1.50")
	fs.IntVar(&v.PrintType, "print-type", 0, "0: barcode (EAN-13 or Code128), 1: QR code")
	fs.StringVar(&v.ValidUntil, "valid-until", "", "validity `date` (2006-01-02 or RFC 3339); none when empty")
	cp := fs.String("codepage", "cp852", "the printer's code `page`: cp852, cp1250 or ascii")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("voucher-render: unexpected argument %q", fs.Arg(0))
	}
	t, err := v.Ticket()
	if err != nil {
		return fmt.Errorf("voucher-render: %w", err)
	}
	b, err := escpos.Render(t, &escpos.Opts{CodePage: *cp})
	if err != nil {
		return fmt.Errorf("voucher-render: %w", err)
	}
	_, err = stdout.Write(b)
	return err
}
