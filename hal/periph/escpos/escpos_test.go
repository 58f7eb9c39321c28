package escpos

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.bug.st/serial"
	"golang.org/x/text/encoding/charmap"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/hal/periph/escpos/escpostest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var validUntil = time.Date(2026, 2, 4, 8, 0, 0, 0, time.UTC)

func TestGolden(t *testing.T) {
	tests := []struct {
		name string
		t    hal.Ticket
		o    Opts
	}{
		{"barcode-ean13", hal.Ticket{Code: "2912345678906", Grosze: 150, PrintType: PrintBarcode, ValidUntil: validUntil}, Opts{}},
		{"barcode-code128", hal.Ticket{Code: "OP-7F3A-0001", Grosze: 1250, PrintType: PrintBarcode, ValidUntil: validUntil}, Opts{}},
		{"qr", hal.Ticket{Code: "OP-7F3A-0002", Grosze: 350, PrintType: PrintQR, ValidUntil: validUntil}, Opts{}},
		{"polish-cp852", hal.Ticket{Code: "2912345678906", Grosze: 50, PrintType: PrintBarcode, ValidUntil: validUntil,
			Lines: []string{"Dziękujemy! Zażółć gęślą jaźń", "ZAŻÓŁĆ GĘŚLĄ JAŹŃ"}},
			Opts{Layout: Layout{Header: []string{"Sklep Żabka nr 1", "ul. Świętokrzyska 5, Łódź"}, Title: "BON ZWROTU KAUCJI"}}},
		{"polish-cp1250", hal.Ticket{Code: "2912345678906", Grosze: 50, PrintType: PrintQR, ValidUntil: validUntil,
			Lines: []string{"Zażółć gęślą jaźń"}}, Opts{CodePage: "cp1250"}},
	}
	for _, tt := range tests {
		got, err := Render(tt.t, &tt.o)
		if err != nil {
			t.Fatalf("Render(%s) = %v", tt.name, err)
		}
		path := filepath.Join("testdata", tt.name+".bin")
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("Render(%s) =\n%q\nwant\n%q", tt.name, got, want)
		}
	}
}

// TestCommands checks the golden streams hold the commands the reference
// prescribes, so that -update cannot bless a wrong stream unnoticed.
func TestCommands(t *testing.T) {
	tests := []struct {
		t    hal.Ticket
		o    Opts
		want [][]byte
	}{
		{hal.Ticket{Code: "2912345678906", Grosze: 150, PrintType: PrintBarcode, ValidUntil: validUntil}, Opts{}, [][]byte{
			{0x1b, '@'}, {0x1b, 't', 18}, []byte("1,50 z\x88"), append([]byte{0x1d, 'k', 67, 13}, "2912345678906"...),
			[]byte("Wa\xbeny do: 04.02.2026"), {0x1d, 'V', 65, 3},
		}},
		{hal.Ticket{Code: "AB-1", Grosze: 100050, PrintType: PrintBarcode}, Opts{}, [][]byte{
			[]byte("1000,50 z\x88"), append([]byte{0x1d, 'k', 73, 6, '{', 'B'}, "AB-1"...),
		}},
		{hal.Ticket{Code: "QR-1", Grosze: 5, PrintType: PrintQR}, Opts{QRModule: 8, QRLevel: 'H', CodePageN: 46}, [][]byte{
			{0x1b, 't', 46}, []byte("0,05 z"),
			{0x1d, '(', 'k', 4, 0, 49, 65, 50, 0}, {0x1d, '(', 'k', 3, 0, 49, 67, 8}, {0x1d, '(', 'k', 3, 0, 49, 69, 51},
			append([]byte{0x1d, '(', 'k', 7, 0, 49, 80, 48}, "QR-1"...), {0x1d, '(', 'k', 3, 0, 49, 81, 48},
		}},
		{hal.Ticket{Code: "1", Amount: "12.50 PLN", PrintType: PrintQR}, Opts{CodePage: "ascii"}, [][]byte{[]byte("12.50 PLN")}},
	}
	for _, tt := range tests {
		got, err := Render(tt.t, &tt.o)
		if err != nil {
			t.Fatalf("Render(%+v) = %v", tt.t, err)
		}
		for _, w := range tt.want {
			if !bytes.Contains(got, w) {
				t.Errorf("Render(%+v) = %q; want it to contain %q", tt.t, got, w)
			}
		}
	}
	got, _ := Render(hal.Ticket{Code: "1", Grosze: 1, PrintType: PrintQR}, &Opts{CodePage: "ascii"})
	if bytes.Contains(got, []byte{0x1b, 't'}) {
		t.Errorf("ascii code page sent ESC t: %q", got)
	}
}

func TestRenderErrors(t *testing.T) {
	tests := []struct {
		t hal.Ticket
		o Opts
	}{
		{hal.Ticket{Grosze: 1}, Opts{}},
		{hal.Ticket{Code: "1", Grosze: -1}, Opts{}},
		{hal.Ticket{Code: "1", Grosze: 1, PrintType: 7}, Opts{}},
		{hal.Ticket{Code: "zł", Grosze: 1}, Opts{}},
		{hal.Ticket{Code: "1", Grosze: 1}, Opts{CodePage: "cp437"}},
		{hal.Ticket{Code: "1", Grosze: 1}, Opts{QRModule: 17}},
		{hal.Ticket{Code: "1", Grosze: 1}, Opts{QRLevel: 'X'}},
		{hal.Ticket{Code: "1", Grosze: 1}, Opts{CodePageN: 300}},
	}
	for _, tt := range tests {
		if _, err := Render(tt.t, &tt.o); err == nil {
			t.Errorf("Render(%+v, %+v) = nil error; want one", tt.t, tt.o)
		}
	}
}

// TestCodePages checks the tables written by hand against x/text's.
func TestCodePages(t *testing.T) {
	ref := map[string]*charmap.Charmap{"cp852": charmap.CodePage852, "cp1250": charmap.Windows1250}
	for name, cm := range ref {
		cp, err := LookupCodePage(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range "ąćęłńóśźżĄĆĘŁŃÓŚŹŻ" {
			want, ok := cm.EncodeRune(r)
			if got := cp.Bytes[r]; !ok || got != want {
				t.Errorf("%s[%c] = %#02x; want %#02x", name, r, got, want)
			}
		}
		if len(cp.Bytes) != 18 {
			t.Errorf("%s has %d letters; want 18", name, len(cp.Bytes))
		}
	}
	for _, n := range []string{"CP852", "pc852", "Windows-1250", "ascii"} {
		if _, err := LookupCodePage(n); err != nil {
			t.Errorf("LookupCodePage(%q) = %v", n, err)
		}
	}
	got := CodePages["cp852"].encode(nil, "a\x1b@\u20acż")
	if want := []byte("a@?\xbe"); !bytes.Equal(got, want) {
		t.Errorf("encode = %q; want %q (no control bytes, ? for the unknown)", got, want)
	}
}

// open starts a fake printer and the driver on its serial port.
func open(t *testing.T, o Opts) (*Dev, *escpostest.Printer) {
	t.Helper()
	fake, err := escpostest.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	port, err := serial.Open(fake.Path(), &serial.Mode{BaudRate: 38400})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { port.Close() })
	// The limits only keep a broken test from hanging: paper out during a
	// ticket is known from the offline cause, polled every 20 ms.
	o.StatusTimeout, o.PrintTimeout, o.Poll = 10*time.Second, time.Minute, 20*time.Millisecond
	d, err := New(port, fake.Path(), &o)
	if err != nil {
		t.Fatal(err)
	}
	return d, fake
}

func TestPrintOverPTY(t *testing.T) {
	tk := hal.Ticket{Code: "2912345678906", Grosze: 150, PrintType: PrintBarcode, ValidUntil: validUntil}
	want, _ := Render(tk, nil)
	tests := []struct {
		name   string
		paper  int
		cover  bool
		err    error
		ticket bool // the whole ticket reached the printer
	}{
		{"ok", -1, false, nil, true},
		{"cover open", -1, true, hal.FaultCoverOpen, false},
		{"no paper", 0, false, hal.FaultPaperOut, false},
		{"paper runs out during the ticket", 3, false, hal.FaultPaperOut, true},
	}
	for _, tt := range tests {
		d, fake := open(t, Opts{})
		fake.SetPaper(tt.paper)
		fake.SetCover(tt.cover)
		err := d.Print(tk)
		if tt.err == nil && err != nil || tt.err != nil && !errors.Is(err, tt.err) {
			t.Errorf("%s: Print = %v; want %v", tt.name, err, tt.err)
		}
		if got := bytes.Contains(fake.Bytes(), want); got != tt.ticket {
			t.Errorf("%s: ticket sent = %v; want %v", tt.name, got, tt.ticket)
		}
		if tt.err != nil {
			// Fixed: the next print goes through.
			fake.SetPaper(-1)
			fake.SetCover(false)
			if err := d.Print(tk); err != nil {
				t.Errorf("%s: Print after the fix = %v", tt.name, err)
			}
		}
	}
}

func TestStatus(t *testing.T) {
	d, fake := open(t, Opts{})
	fake.SetPaper(0)
	fake.SetCover(true)
	st, err := d.Status()
	if err != nil || !st.CoverOpen || !st.PaperOut || !st.PaperNearEnd {
		t.Errorf("Status = %+v, %v; want cover open, paper out", st, err)
	}
	if got := d.String(); got != "escpos("+fake.Path()+")" {
		t.Errorf("String() = %q", got)
	}
}

// TestBlind: a write-only connection (a USB printer class device) prints
// without status.
func TestBlind(t *testing.T) {
	var buf bytes.Buffer
	if _, err := New(&buf, "lp0", nil); !errors.Is(err, ErrNoStatus) {
		t.Errorf("New(bytes.Buffer) = %v; want ErrNoStatus", err)
	}
	d, err := New(&buf, "lp0", &Opts{Blind: true})
	if err != nil {
		t.Fatal(err)
	}
	tk := hal.Ticket{Code: "2912345678906", Grosze: 150, ValidUntil: validUntil}
	if err := d.Print(tk); err != nil {
		t.Fatal(err)
	}
	want, _ := Render(tk, nil)
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("blind stream = %q; want the rendered ticket %q", buf.Bytes(), want)
	}
	if _, err := d.Status(); !errors.Is(err, ErrNoStatus) {
		t.Errorf("blind Status = %v; want ErrNoStatus", err)
	}
}

func BenchmarkRender(b *testing.B) {
	tk := hal.Ticket{Code: "2912345678906", Grosze: 150, PrintType: PrintQR, ValidUntil: validUntil, Lines: []string{"Dziękujemy"}}
	o := Opts{}
	if err := o.fill(); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = render(buf[:0], tk, &o); err != nil {
			b.Fatal(err)
		}
	}
}
