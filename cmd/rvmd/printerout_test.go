package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/charmap"
)

// ticket is one voucher decoded from an ESC/POS stream.
type ticket struct {
	lines []string // text lines, decoded from CP852
	codes []string // barcode (GS k) and QR (GS ( k, store) payloads
	cut   bool
}

// decodeESCPOS splits a printer's stream into tickets (each starts at
// ESC @) and reads their text and codes. It knows the commands the voucher
// printer is sent, and the status queries; any other command fails.
func decodeESCPOS(b []byte) ([]ticket, error) {
	var out []ticket
	var cur *ticket
	var text []byte
	line := func() {
		if cur != nil && len(text) > 0 {
			s, _ := charmap.CodePage852.NewDecoder().Bytes(text)
			cur.lines = append(cur.lines, string(s))
		}
		text = text[:0]
	}
	need := func(i, n int) error {
		if i+n > len(b) {
			return fmt.Errorf("command at %d cut short", i)
		}
		return nil
	}
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == 0x10: // DLE EOT n: real-time status
			if err := need(i, 3); err != nil || b[i+1] != 0x04 {
				return nil, fmt.Errorf("bad DLE at %d", i)
			}
			i += 3
		case c == 0x1b: // ESC
			if err := need(i, 2); err != nil {
				return nil, err
			}
			switch b[i+1] {
			case '@':
				line()
				out = append(out, ticket{})
				cur = &out[len(out)-1]
				i += 2
			case 't', 'a', 'E':
				i += 3
			default:
				return nil, fmt.Errorf("unknown ESC %q at %d", b[i+1], i)
			}
		case c == 0x1d: // GS
			if err := need(i, 3); err != nil {
				return nil, err
			}
			switch b[i+1] {
			case '!', 'H', 'h', 'w', 'r':
				i += 3
			case 'V':
				line()
				if cur != nil {
					cur.cut = true
				}
				i += 4
			case 'k':
				if err := need(i, 4); err != nil {
					return nil, err
				}
				n := int(b[i+3])
				if err := need(i+4, n); err != nil {
					return nil, err
				}
				data := string(b[i+4 : i+4+n])
				if b[i+2] == 73 { // Code128: the code set's two bytes first
					data = data[2:]
				}
				if cur != nil {
					cur.codes = append(cur.codes, data)
				}
				i += 4 + n
			case '(':
				if err := need(i, 5); err != nil || b[i+2] != 'k' {
					return nil, fmt.Errorf("bad GS ( at %d", i)
				}
				n := int(b[i+3]) | int(b[i+4])<<8
				if err := need(i+5, n); err != nil {
					return nil, err
				}
				if p := b[i+5 : i+5+n]; n > 3 && p[1] == 80 && cur != nil { // fn 180: store
					cur.codes = append(cur.codes, string(p[3:]))
				}
				i += 5 + n
			default:
				return nil, fmt.Errorf("unknown GS %q at %d", b[i+1], i)
			}
		case c == '\n':
			line()
			i++
		default:
			text = append(text, c)
			i++
		}
	}
	return out, nil
}

// rvmd simulate -hal pins -printer-out FILE: the stream the rig's printer
// received holds, in order, every paper voucher of the scenario (its code
// as a barcode, its amount in złoty, its validity), each exactly the stream
// rvmd voucher-render writes for it; donated vouchers are not printed.
func TestPrinterOut(t *testing.T) {
	scen := "../../internal/simrun/testdata/mixed.jsonl"
	if b, _ := os.ReadFile(scen); bytes.Contains(b, []byte(`"digital"`)) {
		t.Fatalf("%s has a digital payout: this test takes every undonated voucher as printed", scen)
	}
	file := filepath.Join(t.TempDir(), "printer.bin")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"simulate", "-hal", "pins", "-scenario", scen, "-printer-out", file}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	stream, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	// What was due on paper: the vouchers of transactions not donated.
	type voucher struct {
		ID, TransactionID string
		Amount            float64
		PrintType         int
		ValidUntil        time.Time
	}
	donated := map[string]bool{}
	var want []voucher
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var rec struct {
			Kind string
			Body json.RawMessage
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		switch rec.Kind {
		case "transaction":
			var tr struct {
				ID      string
				Voucher *struct{ RedeemType int }
			}
			json.Unmarshal(rec.Body, &tr)
			donated[tr.ID] = tr.Voucher != nil && tr.Voucher.RedeemType == 3
		case "voucher":
			var v voucher
			json.Unmarshal(rec.Body, &v)
			if !donated[v.TransactionID] {
				want = append(want, v)
			}
		}
	}
	tickets, err := decodeESCPOS(stream)
	if err != nil {
		t.Fatalf("decode %s: %v\n%q", file, err, stream)
	}
	if len(want) == 0 || len(tickets) != len(want) {
		t.Fatalf("%s holds %d tickets; want %d (the paper vouchers of the scenario)", file, len(tickets), len(want))
	}
	for i, v := range want {
		tk := tickets[i]
		g := int64(math.Round(v.Amount * 100))
		amount := fmt.Sprintf("%d,%02d zł", g/100, g%100)
		valid := "Ważny do: " + v.ValidUntil.UTC().Format("02.01.2006")
		if len(tk.codes) != 1 || tk.codes[0] != v.ID || !tk.cut || !contains(tk.lines, amount) || !contains(tk.lines, valid) {
			t.Errorf("ticket %d: codes %q, lines %q, cut %t; want code %s, %q, %q, cut", i, tk.codes, tk.lines, tk.cut, v.ID, amount, valid)
		}
		var render bytes.Buffer
		args := []string{"voucher-render", "-code", v.ID, "-amount", fmt.Sprintf("%d.%02d", g/100, g%100),
			"-print-type", fmt.Sprint(v.PrintType), "-valid-until", v.ValidUntil.Format(time.RFC3339)}
		if err := run(context.Background(), args, &render, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(stream, render.Bytes()) {
			t.Errorf("rvmd %s writes\n%q\nwhich the printer never received whole:\n%q", strings.Join(args, " "), render.Bytes(), stream)
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// -printer-out needs the rig's printer.
func TestPrinterOutNeedsPins(t *testing.T) {
	file := filepath.Join(t.TempDir(), "printer.bin")
	for _, args := range [][]string{
		{"simulate", "-scenario", "../../internal/simrun/testdata/mixed.jsonl", "-printer-out", file},
		{"run", "-sim", "-db", filepath.Join(t.TempDir(), "l.db"), "-printer-out", file},
	} {
		err := run(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "-printer-out needs -hal pins") {
			t.Errorf("rvmd %q = %v; want an error saying -printer-out needs -hal pins", args, err)
		}
		if _, err := os.Stat(file); err == nil {
			t.Errorf("rvmd %q created %s", args, file)
		}
	}
}
