package scenario

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

// FuzzParse: a scenario file never makes Parse panic; an error names a line
// of the file; a scenario that parses holds only steps the runner can play
// as written (known op, the op's fields in their ranges, start only first).
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.jsonl")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"op":"insert","ean":"5900449000287","weight_g":-1}`))
	f.Add([]byte("# comment\n\n{\"op\":\"finish\",\"payout\":\"digital\",\"phone\":\"600100200\"}\n"))
	phone := regexp.MustCompile(`^[0-9]{9}$`)
	f.Fuzz(func(t *testing.T, data []byte) {
		steps, err := Parse(bytes.NewReader(data))
		if err != nil {
			var le *LineError
			if !errors.As(err, &le) || le.Line < 1 || le.Line > bytes.Count(data, []byte("\n"))+1 {
				t.Errorf("Parse error %v; want a *LineError naming one of the file's lines", err)
			}
			return
		}
		prev := 0
		for i, st := range steps {
			if st.Line <= prev {
				t.Errorf("step %d on line %d after line %d", i, st.Line, prev)
			}
			prev = st.Line
			if _, ok := fields[st.Op]; !ok {
				t.Errorf("step %d: unknown op %q parsed", i, st.Op)
			}
			if st.Op == OpStart && i > 0 {
				t.Errorf("step %d: start not first", i)
			}
			if st.Gap < 0 || st.Wait < 0 {
				t.Errorf("step %d: negative gap %v or wait %v", i, st.Gap, st.Wait)
			}
			switch st.Op {
			case OpInsert:
				if !slices.Contains([]string{"ok", "damaged", "missing"}, st.Barcode) || st.EAN == "" && st.Barcode != "missing" {
					t.Errorf("step %d: insert with barcode %q, ean %q", i, st.Barcode, st.EAN)
				}
				for _, v := range []*float64{st.WeightG, st.HeightMM, st.DiameterMM} {
					if v != nil && *v < 0 {
						t.Errorf("step %d: negative measure %v", i, *v)
					}
				}
			case OpFinish:
				// payout defaults to voucher; a phone is checked (and
				// used) only with digital and account.
				if !slices.Contains([]string{"voucher", "donation", "digital", "account"}, st.Payout) || (st.Payout == "digital" || st.Payout == "account") && !phone.MatchString(st.Phone) {
					t.Errorf("step %d: finish with payout %q, phone %q", i, st.Payout, st.Phone)
				}
			case OpBagExchange:
				if st.Seal == "" || st.Bin < 1 {
					t.Errorf("step %d: bag exchange with seal %q, bin %d", i, st.Seal, st.Bin)
				}
			case OpSealReplace:
				if st.Old == "" || st.New == "" {
					t.Errorf("step %d: seal replace %q -> %q", i, st.Old, st.New)
				}
			}
		}
	})
}
