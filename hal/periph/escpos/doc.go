// Package escpos drives the voucher printer: an Epson-compatible thermal
// receipt printer spoken to in ESC/POS over a serial port (go.bug.st/serial)
// or any io.ReadWriter, such as a USB printer class device (/dev/usb/lp0)
// or a pseudo-terminal in tests. It implements [hal.Printer].
//
// The command reference: Epson's "ESC/POS Command Reference" (initialise ESC
// @, select the code table ESC t n, barcodes GS k, QR codes GS ( k, cut GS
// V, real-time status DLE EOT n, paper sensor status GS r 1).
//
// # Usage
//
//	port, err := serial.Open("/dev/ttyUSB0", &serial.Mode{BaudRate: 38400})
//	pr, err := escpos.New(port, "/dev/ttyUSB0", &escpos.Opts{CodePage: "cp852",
//		Layout: escpos.Layout{Header: []string{"Sklep nr 1", "ul. Długa 5, Łódź"}}})
//	err = pr.Print(hal.Ticket{Code: "2912345678906", Grosze: 150, PrintType: 0, ValidUntil: until})
//	b, err := escpos.Render(ticket, nil) // the same bytes, without a printer (rvmd voucher-render)
//
// # A voucher
//
// [Render] writes: ESC @; ESC t with the code page's number (CP852, Epson
// table 18, by default; CP1250 is 45; "ascii" drops the accents and sends no
// ESC t); the store's header; the title; the amount in złoty as Poles write
// it ("1,50 zł") in double size; the code as the operator's printType asks
// (0: an EAN-13 when the code is a valid EAN-13, else Code128 set B, with
// GS k and the digits under the bars; 1: a QR code, model 2, module size
// and error correction from Opts, stored and printed with GS ( k); the
// validity date ("Ważny do: 04.02.2026"); the footer and the ticket's lines;
// a feed and cut (GS V 65). Text is encoded in the code page by tables
// written here for the Polish letters (checked against golang.org/x/text in
// the tests); control bytes in text are dropped, so text cannot inject a
// command.
//
// # Faults
//
// [Dev.Print] asks the real-time status first (DLE EOT 2, the offline
// cause: cover open, printing stopped at paper end; DLE EOT 4, the roll
// sensor) and refuses with [ErrCoverOpen] or [ErrPaperOut], which wrap
// [hal.FaultCoverOpen] and [hal.FaultPaperOut]. It then writes the ticket
// followed by GS r 1, which the printer answers only after printing what
// came before, and returns nil only on that answer. While it waits it polls
// the offline cause (Opts.Poll): a printer that stopped mid-ticket never
// answers GS r, and the poll says why at once (the two answers differ in
// bit 4, set in every real-time status byte). Any
// error means "print it again"; the controller keeps the voucher due in
// the ledger and reprints it under the same code. A printer that stops at
// paper end may finish the interrupted ticket when it gets paper again: the
// reprint then follows a partial copy of the same code, which the operator
// redeems once.
//
// A connection without SetReadTimeout (a plain file) needs Opts.Blind: the
// printer then gets the bytes and no status is read.
//
// # Concurrency
//
// A Dev is safe for concurrent use; a print holds its lock while it waits
// for the printer. It has no goroutine. Package escpostest is a fake
// printer on a pty that answers the status queries and runs out of paper on
// demand.
package escpos
