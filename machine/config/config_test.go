package config

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestDefault(t *testing.T) {
	c := Default()
	checks := []struct {
		name      string
		got, want any
	}{
		{"IdleTimeout", c.IdleTimeout, 30 * time.Second},
		{"AcceptTestPhase", c.AcceptTestPhase, false},
		{"ShapeTolerancePct", c.ShapeTolerancePct, 10},
		{"WeightTolerancePct", c.WeightTolerancePct, 20},
		{"FraudBlockThreshold", c.FraudBlockThreshold, 2},
		{"BagMaxContainers", c.BagMaxContainers, 400},
		{"BagMaxMass", c.BagMaxMass, 15 * physic.KiloGram},
		{"BagWarnPct", c.BagWarnPct, 80},
		{"VoucherValidity", c.VoucherValidity, 30 * 24 * time.Hour},
		{"VoucherPrintType", c.VoucherPrintType, 0},
		{"ConveyorLimit", c.ConveyorLimit, 5 * time.Second},
		{"BagSettle", c.BagSettle, 300 * time.Millisecond},
		{"ScaleResolution", c.ScaleResolution, 100 * physic.MilliGram},
		{"HeartbeatInterval", c.HeartbeatInterval, time.Minute},
		{"OutboxBudgetBytes", c.OutboxBudgetBytes, int64(64 << 20)},
		{"Serial", c.Serial, "RVM-SIM-0001"},
		{"WasteTypes", c.WasteTypes, []int{7, 3}},
		{"BagLitrage", c.BagLitrage, 240},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("Default().%s = %v; want %v", ch.name, ch.got, ch.want)
		}
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v; want nil", err)
	}
	c.WasteTypes[0] = 99
	if Default().WasteTypes[0] != 7 {
		t.Errorf("changing one Default() changed the next")
	}
}

// TestBounds tries every key at and just beyond each bound.
func TestBounds(t *testing.T) {
	tests := []struct {
		in      string
		wantErr error // nil: accepted
		check   func(Config) bool
	}{
		{`{"idleTimeout":"5s"}`, nil, func(c Config) bool { return c.IdleTimeout == 5*time.Second }},
		{`{"idleTimeout":"10m"}`, nil, func(c Config) bool { return c.IdleTimeout == 10*time.Minute }},
		{`{"idleTimeout":"4.999s"}`, ErrOutOfBounds, nil},
		{`{"idleTimeout":"10m0.001s"}`, ErrOutOfBounds, nil},
		{`{"acceptTestPhase":true}`, nil, func(c Config) bool { return c.AcceptTestPhase }},
		{`{"acceptTestPhase":false}`, nil, func(c Config) bool { return !c.AcceptTestPhase }},
		{`{"shapeTolerancePct":0}`, nil, func(c Config) bool { return c.ShapeTolerancePct == 0 }},
		{`{"shapeTolerancePct":50}`, nil, func(c Config) bool { return c.ShapeTolerancePct == 50 }},
		{`{"shapeTolerancePct":-1}`, ErrOutOfBounds, nil},
		{`{"shapeTolerancePct":51}`, ErrOutOfBounds, nil},
		{`{"weightTolerancePct":0}`, nil, func(c Config) bool { return c.WeightTolerancePct == 0 }},
		{`{"weightTolerancePct":100}`, nil, func(c Config) bool { return c.WeightTolerancePct == 100 }},
		{`{"weightTolerancePct":-1}`, ErrOutOfBounds, nil},
		{`{"weightTolerancePct":101}`, ErrOutOfBounds, nil},
		{`{"fraudBlockThreshold":0}`, nil, func(c Config) bool { return c.FraudBlockThreshold == 0 }},
		{`{"fraudBlockThreshold":100}`, nil, func(c Config) bool { return c.FraudBlockThreshold == 100 }},
		{`{"fraudBlockThreshold":-1}`, ErrOutOfBounds, nil},
		{`{"fraudBlockThreshold":101}`, ErrOutOfBounds, nil},
		{`{"fraudBlockThreshold":"3"}`, ErrType, nil},
		{`{"bagMaxContainers":1}`, nil, func(c Config) bool { return c.BagMaxContainers == 1 }},
		{`{"bagMaxContainers":5000}`, nil, func(c Config) bool { return c.BagMaxContainers == 5000 }},
		{`{"bagMaxContainers":0}`, ErrOutOfBounds, nil},
		{`{"bagMaxContainers":5001}`, ErrOutOfBounds, nil},
		{`{"bagMaxKg":0.1}`, nil, func(c Config) bool { return c.BagMaxMass == 100*physic.Gram }},
		{`{"bagMaxKg":100}`, nil, func(c Config) bool { return c.BagMaxMass == 100*physic.KiloGram }},
		{`{"bagMaxKg":0.3}`, nil, func(c Config) bool { return c.BagMaxMass == 300*physic.Gram }},
		{`{"bagMaxKg":12.3456785}`, nil, func(c Config) bool { return c.BagMaxMass == 12345679*physic.MilliGram }},
		{`{"bagMaxKg":1.5e1}`, nil, func(c Config) bool { return c.BagMaxMass == 15*physic.KiloGram }},
		{`{"bagMaxKg":0.099}`, ErrOutOfBounds, nil},
		{`{"bagMaxKg":100.001}`, ErrOutOfBounds, nil},
		{`{"bagWarnPct":1}`, nil, func(c Config) bool { return c.BagWarnPct == 1 }},
		{`{"bagWarnPct":99}`, nil, func(c Config) bool { return c.BagWarnPct == 99 }},
		{`{"bagWarnPct":0}`, ErrOutOfBounds, nil},
		{`{"bagWarnPct":100}`, ErrOutOfBounds, nil},
		{`{"voucherValidityDays":1}`, nil, func(c Config) bool { return c.VoucherValidity == 24*time.Hour }},
		{`{"voucherValidityDays":365}`, nil, func(c Config) bool { return c.VoucherValidity == 365*24*time.Hour }},
		{`{"voucherValidityDays":0}`, ErrOutOfBounds, nil},
		{`{"voucherValidityDays":366}`, ErrOutOfBounds, nil},
		{`{"voucherPrintType":0}`, nil, func(c Config) bool { return c.VoucherPrintType == 0 }},
		{`{"voucherPrintType":1}`, nil, func(c Config) bool { return c.VoucherPrintType == 1 }},
		{`{"voucherPrintType":-1}`, ErrOutOfBounds, nil},
		{`{"voucherPrintType":2}`, ErrOutOfBounds, nil},
		{`{"conveyorLimit":"100ms"}`, nil, func(c Config) bool { return c.ConveyorLimit == 100*time.Millisecond }},
		{`{"conveyorLimit":"30s"}`, nil, func(c Config) bool { return c.ConveyorLimit == 30*time.Second }},
		{`{"conveyorLimit":"99ms"}`, ErrOutOfBounds, nil},
		{`{"conveyorLimit":"30.001s"}`, ErrOutOfBounds, nil},
		{`{"bagSettle":"0s"}`, nil, func(c Config) bool { return c.BagSettle == 0 }},
		{`{"bagSettle":"0"}`, nil, func(c Config) bool { return c.BagSettle == 0 }},
		{`{"bagSettle":"5s"}`, nil, func(c Config) bool { return c.BagSettle == 5*time.Second }},
		{`{"bagSettle":"-1ms"}`, ErrOutOfBounds, nil},
		{`{"bagSettle":"5.001s"}`, ErrOutOfBounds, nil},
		{`{"scaleResolutionMg":1}`, nil, func(c Config) bool { return c.ScaleResolution == physic.MilliGram }},
		{`{"scaleResolutionMg":10000}`, nil, func(c Config) bool { return c.ScaleResolution == 10*physic.Gram }},
		{`{"scaleResolutionMg":0}`, ErrOutOfBounds, nil},
		{`{"scaleResolutionMg":10001}`, ErrOutOfBounds, nil},
		{`{"consoleLockout":"1s"}`, nil, func(c Config) bool { return c.ConsoleLockout == time.Second }},
		{`{"consoleLockout":"24h"}`, nil, func(c Config) bool { return c.ConsoleLockout == 24*time.Hour }},
		{`{"consoleLockout":"999ms"}`, ErrOutOfBounds, nil},
		{`{"consoleLockout":5}`, ErrType, nil},
		{`{"driftWarnG":1}`, nil, func(c Config) bool { return c.DriftWarn == physic.Gram }},
		{`{"driftWarnG":10000}`, nil, func(c Config) bool { return c.DriftWarn == 10*physic.KiloGram }},
		{`{"driftWarnG":0}`, ErrOutOfBounds, nil},
		{`{"driftWarnG":"20"}`, ErrType, nil},
		{`{"heartbeatInterval":"5s"}`, nil, func(c Config) bool { return c.HeartbeatInterval == 5*time.Second }},
		{`{"heartbeatInterval":"1h"}`, nil, func(c Config) bool { return c.HeartbeatInterval == time.Hour }},
		{`{"heartbeatInterval":"4s"}`, ErrOutOfBounds, nil},
		{`{"heartbeatInterval":"61m"}`, ErrOutOfBounds, nil},
		{`{"outboxBudgetMB":1}`, nil, func(c Config) bool { return c.OutboxBudgetBytes == 1<<20 }},
		{`{"outboxBudgetMB":10000}`, nil, func(c Config) bool { return c.OutboxBudgetBytes == 10000<<20 }},
		{`{"outboxBudgetMB":0}`, ErrOutOfBounds, nil},
		{`{"outboxBudgetMB":10001}`, ErrOutOfBounds, nil},
		{`{"gatewayAcks":false}`, nil, func(c Config) bool { return !c.GatewayAcks }},
		{`{"gatewayAcks":true}`, nil, func(c Config) bool { return c.GatewayAcks }},
		{`{"gatewayAcks":"no"}`, ErrType, nil},
		{`{"gatewayAcks":null}`, ErrType, nil},
		{`{"serial":"A"}`, nil, func(c Config) bool { return c.Serial == "A" }},
		{`{"serial":"` + strings.Repeat("x", 64) + `"}`, nil, func(c Config) bool { return len(c.Serial) == 64 }},
		{`{"serial":"rvm_01-Z"}`, nil, func(c Config) bool { return c.Serial == "rvm_01-Z" }},
		{`{"serial":""}`, ErrInvalid, nil},
		{`{"serial":"` + strings.Repeat("x", 65) + `"}`, ErrInvalid, nil},
		{`{"serial":"rvm/1"}`, ErrInvalid, nil},
		{`{"serial":"rvm 1"}`, ErrInvalid, nil},
		{`{"serial":"rvm+1"}`, ErrInvalid, nil},
		{`{"name":"Biedronka Kraków ul. Długa 1"}`, nil, func(c Config) bool { return c.Name == "Biedronka Kraków ul. Długa 1" }},
		{`{"name":""}`, nil, func(c Config) bool { return c.Name == "" }},
		{`{"name":"` + strings.Repeat("x", 257) + `"}`, ErrInvalid, nil},
		{`{"model":"RVM-X2"}`, nil, func(c Config) bool { return c.Model == "RVM-X2" }},
		{`{"manufacturer":"deposit-rvm"}`, nil, func(c Config) bool { return c.Manufacturer == "deposit-rvm" }},
		{`{"drsCpNo":"CP-000123"}`, nil, func(c Config) bool { return c.DrsCpNo == "CP-000123" }},
		{`{"drsCpNo":"` + strings.Repeat("x", 257) + `"}`, ErrInvalid, nil},
		{`{"wasteTypes":[1,2,3,4,5,6,7,8,9,10,11,12,13,99]}`, nil, func(c Config) bool { return len(c.WasteTypes) == 14 }},
		{`{"wasteTypes":[99]}`, nil, func(c Config) bool { return reflect.DeepEqual(c.WasteTypes, []int{99}) }},
		{`{"wasteTypes":[]}`, ErrInvalid, nil},
		{`{"wasteTypes":[0]}`, ErrOutOfBounds, nil},
		{`{"wasteTypes":[14]}`, ErrOutOfBounds, nil},
		{`{"wasteTypes":[98]}`, ErrOutOfBounds, nil},
		{`{"wasteTypes":[7,7]}`, ErrInvalid, nil},
		{`{"bagLitrage":10}`, nil, func(c Config) bool { return c.BagLitrage == 10 }},
		{`{"bagLitrage":2000}`, nil, func(c Config) bool { return c.BagLitrage == 2000 }},
		{`{"bagLitrage":9}`, ErrOutOfBounds, nil},
		{`{"bagLitrage":2001}`, ErrOutOfBounds, nil},
		{`{"pins":{}}`, nil, func(c Config) bool { return c.Pins == nil }},
		{`{"pins":{ "entry": {"pin": "GPIO17"} }}`, nil, func(c Config) bool { return string(c.Pins) == `{"entry":{"pin":"GPIO17"}}` }},
		{`{"containerBatchMax":1}`, nil, func(c Config) bool { return c.ContainerBatchMax == 1 }},
		{`{"containerBatchMax":1000}`, nil, func(c Config) bool { return c.ContainerBatchMax == 1000 }},
		{`{"containerBatchMax":0}`, ErrOutOfBounds, nil},
		{`{"containerBatchMax":1001}`, ErrOutOfBounds, nil},
		{`{"containerBatchInterval":"100ms"}`, nil, func(c Config) bool { return c.ContainerBatchEvery == 100*time.Millisecond }},
		{`{"containerBatchInterval":"10m"}`, nil, func(c Config) bool { return c.ContainerBatchEvery == 10*time.Minute }},
		{`{"containerBatchInterval":"99ms"}`, ErrOutOfBounds, nil},
		{`{"containerBatchInterval":"11m"}`, ErrOutOfBounds, nil},
	}
	for _, tt := range tests {
		c, err := Parse([]byte(tt.in))
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Parse(%.70s) = %v; want %v", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !tt.check(c) {
			t.Errorf("Parse(%.70s) = %+v, %v; want the value set, nil", tt.in, c, err)
		}
	}
}

// TestEveryKeyTested keeps TestBounds and TestWrongType complete when a key
// is added.
func TestEveryKeyTested(t *testing.T) {
	src, err := os.ReadFile("config_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range Keys() {
		if n := strings.Count(string(src), `{"`+k+`":`); n < 2 {
			t.Errorf("key %q appears in %d test inputs; want bounds and type tests", k, n)
		}
	}
}

func TestMessages(t *testing.T) {
	tests := []struct {
		in      string
		wantErr error
		want    string
	}{
		{`{"idleTimout":"30s"}`, ErrUnknownKey, `config: unknown key "idleTimout" (did you mean "idleTimeout"?)`},
		{`{"IdleTimeout":"30s"}`, ErrUnknownKey, `config: unknown key "IdleTimeout" (did you mean "idleTimeout"?)`},
		{`{"bagMaxKG":15}`, ErrUnknownKey, `config: unknown key "bagMaxKG" (did you mean "bagMaxKg"?)`},
		{`{"bagMaxMass":15}`, ErrUnknownKey, `config: unknown key "bagMaxMass"`},
		{`{"wastetype":[7]}`, ErrUnknownKey, `config: unknown key "wastetype" (did you mean "wasteTypes"?)`},
		{`{"colour":"red"}`, ErrUnknownKey, `config: unknown key "colour"`},
		{`{"zzz":1,"aaa":1}`, ErrUnknownKey, `config: unknown key "aaa"`},
		{`{"idleTimeout":"2s"}`, ErrOutOfBounds, `config: idleTimeout: out of bounds: 2s not in 5s..10m0s`},
		{`{"bagWarnPct":120}`, ErrOutOfBounds, `config: bagWarnPct: out of bounds: 120 not in 1..99`},
		{`{"bagWarnPct":99999999999999999999}`, ErrOutOfBounds, `config: bagWarnPct: out of bounds: 99999999999999999999 not in 1..99`},
		{`{"bagMaxKg":200}`, ErrOutOfBounds, `config: bagMaxKg: out of bounds: 200 not in 0.1..100`},
		{`{"wasteTypes":[7,42]}`, ErrOutOfBounds, `config: wasteTypes: out of bounds: 42 is not a WasteTypeEnum value (1..13 or 99)`},
		{`{"serial":"a b"}`, ErrInvalid, `config: serial: invalid value: "a b" does not match ^[A-Za-z0-9_-]{1,64}$`},
		{`{"bagLitrage":240,"bagLitrage":120}`, ErrInvalid, `config: bagLitrage: invalid value: given twice`},
		{`[]`, ErrSyntax, `config: not a JSON object: starts with [`},
		{`null`, ErrSyntax, `config: not a JSON object: starts with null`},
		{``, ErrSyntax, `config: not a JSON object: starts with EOF`},
		{`{"idleTimeout":"30s"`, ErrSyntax, `config: not a JSON object: `},
		{`{"idleTimeout":}`, ErrSyntax, `config: not a JSON object: `},
		{`{} {}`, ErrSyntax, `config: not a JSON object: data after the object`},
		{`{} x`, ErrSyntax, `config: not a JSON object: data after the object`},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.in))
		// A want ending in ": " is a prefix: the rest is the JSON decoder's.
		prefix := strings.HasSuffix(tt.want, ": ")
		if !errors.Is(err, tt.wantErr) || (prefix && !strings.HasPrefix(err.Error(), tt.want)) || (!prefix && err.Error() != tt.want) {
			t.Errorf("Parse(%q) = %v; want %q", tt.in, err, tt.want)
		}
	}
}

func TestWrongType(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{`{"idleTimeout":30}`, `config: idleTimeout: wrong type: 30 (want a duration string such as "5s")`},
		{`{"idleTimeout":"30"}`, `config: idleTimeout: wrong type: "30" (want a duration string`},
		{`{"idleTimeout":null}`, `config: idleTimeout: wrong type: null`},
		{`{"acceptTestPhase":"true"}`, `config: acceptTestPhase: wrong type: "true" (want true or false)`},
		{`{"acceptTestPhase":null}`, `config: acceptTestPhase: wrong type: null`},
		{`{"shapeTolerancePct":"10"}`, `config: shapeTolerancePct: wrong type: "10" (want an integer)`},
		{`{"weightTolerancePct":20.5}`, `config: weightTolerancePct: wrong type: 20.5 (want an integer)`},
		{`{"bagMaxContainers":4e2}`, `config: bagMaxContainers: wrong type: 4e2 (want an integer)`},
		{`{"bagMaxKg":"15"}`, `config: bagMaxKg: wrong type: "15" (want a number of kilograms)`},
		{`{"bagMaxKg":null}`, `config: bagMaxKg: wrong type: null`},
		{`{"bagWarnPct":true}`, `config: bagWarnPct: wrong type: true (want an integer)`},
		{`{"voucherValidityDays":"30d"}`, `config: voucherValidityDays: wrong type: "30d" (want an integer)`},
		{`{"voucherPrintType":"qr"}`, `config: voucherPrintType: wrong type: "qr" (want an integer)`},
		{`{"conveyorLimit":5}`, `config: conveyorLimit: wrong type: 5 (want a duration string such as "100ms")`},
		{`{"bagSettle":{}}`, `config: bagSettle: wrong type: {} (want a duration string`},
		{`{"scaleResolutionMg":0.5}`, `config: scaleResolutionMg: wrong type: 0.5 (want an integer)`},
		{`{"heartbeatInterval":"1 minute"}`, `config: heartbeatInterval: wrong type: "1 minute" (want a duration string`},
		{`{"outboxBudgetMB":"64MB"}`, `config: outboxBudgetMB: wrong type: "64MB" (want an integer)`},
		{`{"serial":17}`, `config: serial: wrong type: 17 (want a string)`},
		{`{"name":null}`, `config: name: wrong type: null (want a string)`},
		{`{"model":1}`, `config: model: wrong type: 1 (want a string)`},
		{`{"manufacturer":[]}`, `config: manufacturer: wrong type: [] (want a string)`},
		{`{"drsCpNo":123}`, `config: drsCpNo: wrong type: 123 (want a string)`},
		{`{"wasteTypes":7}`, `config: wasteTypes: wrong type: 7 (want an array of WasteTypeEnum integers)`},
		{`{"wasteTypes":null}`, `config: wasteTypes: wrong type: null`},
		{`{"wasteTypes":["PET"]}`, `config: wasteTypes: wrong type: "PET" (want an integer)`},
		{`{"bagLitrage":"240"}`, `config: bagLitrage: wrong type: "240" (want an integer)`},
		{`{"pins":["GPIO17"]}`, `config: pins: wrong type: ["GPIO17"] (want an object naming each device's pins)`},
		{`{"containerBatchMax":"5"}`, `config: containerBatchMax: wrong type: "5" (want an integer)`},
		{`{"containerBatchInterval":5}`, `config: containerBatchInterval: wrong type: 5 (want a duration string such as "100ms")`},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.in))
		if !errors.Is(err, ErrType) || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Parse(%s) = %v; want %q", tt.in, err, tt.want)
		}
	}
}

func TestClosest(t *testing.T) {
	tests := []struct{ in, want string }{
		{"serail", "serial"},
		{"bagWarnPercent", ""},
		{"heartbeat", ""},
		{"scaleResolution", "scaleResolutionMg"},
		{"x", ""},
	}
	for _, tt := range tests {
		if got := closest(tt.in); got != tt.want {
			t.Errorf("closest(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func full() Config {
	return Config{
		IdleTimeout: 45 * time.Second, AcceptTestPhase: true, ShapeTolerancePct: 12, WeightTolerancePct: 25, FraudBlockThreshold: 3,
		BagMaxContainers: 350, BagMaxMass: 12345678 * physic.MilliGram, BagWarnPct: 75,
		VoucherValidity: 14 * 24 * time.Hour, VoucherPrintType: 1, ConveyorLimit: 4500 * time.Millisecond,
		BagSettle: 250 * time.Millisecond, ScaleResolution: 50 * physic.MilliGram, HeartbeatInterval: 90 * time.Second,
		OutboxBudgetBytes: 128 << 20, GatewayAcks: false, Serial: "RVM-0042", Name: "Żabka \"Pod Wawelem\"", Model: "X2",
		Manufacturer: "deposit-rvm", DrsCpNo: "CP-17", WasteTypes: []int{7, 3, 1}, BagLitrage: 300,
		ContainerBatchMax: 20, ContainerBatchEvery: 2 * time.Second,
		ConsoleLockout: 90 * time.Second, DriftWarn: 35 * physic.Gram,
	}
}

func TestRoundTrip(t *testing.T) {
	for _, c := range []Config{Default(), full()} {
		data, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("Marshal(%+v) = %v", c, err)
		}
		got, err := Parse(data)
		if err != nil || !reflect.DeepEqual(got, c) {
			t.Errorf("Parse(Marshal(%+v)) = %+v, %v; want the same, nil (JSON %s)", c, got, err, data)
		}
		var keys map[string]any
		if err := json.Unmarshal(data, &keys); err != nil || len(keys) != len(Keys()) {
			t.Errorf("Marshal wrote %d keys (%v); want %d", len(keys), err, len(Keys()))
		}
	}
}

func TestMarshalGolden(t *testing.T) {
	for name, c := range map[string]Config{"default.json": Default(), "full.json": full()} {
		data, err := json.MarshalIndent(c, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, '\n')
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test -update writes it)", err)
		}
		if string(data) != string(want) {
			t.Errorf("Marshal(%s) differs (go test -update rewrites it):\ngot:\n%s\nwant:\n%s", name, data, want)
		}
		loaded, err := Load(path)
		if err != nil || !reflect.DeepEqual(loaded, c) {
			t.Errorf("Load(%s) = %+v, %v; want %+v", path, loaded, err, c)
		}
	}
}

func TestMarshalUnrepresentable(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"validity", func(c *Config) { c.VoucherValidity = 36 * time.Hour }, "config: voucherValidityDays: invalid value:"},
		{"budget", func(c *Config) { c.OutboxBudgetBytes = 1000 }, "config: outboxBudgetMB: invalid value:"},
		{"resolution", func(c *Config) { c.ScaleResolution = 1500 * physic.MicroGram }, "config: scaleResolutionMg: invalid value:"},
		{"bag mass", func(c *Config) { c.BagMaxMass = physic.KiloGram + physic.NanoGram }, "config: bagMaxKg: invalid value:"},
	}
	for _, tt := range tests {
		c := Default()
		tt.change(&c)
		_, err := c.MarshalJSON()
		if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s: MarshalJSON() = %v; want %q", tt.name, err, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Config)
		wantErr error
	}{
		{"default", func(*Config) {}, nil},
		{"idle too short", func(c *Config) { c.IdleTimeout = time.Second }, ErrOutOfBounds},
		{"no waste types", func(c *Config) { c.WasteTypes = nil }, ErrType},
		{"bad serial", func(c *Config) { c.Serial = "a/b" }, ErrInvalid},
		{"warn 100", func(c *Config) { c.BagWarnPct = 100 }, ErrOutOfBounds},
	}
	for _, tt := range tests {
		c := Default()
		tt.change(&c)
		if err := c.Validate(); !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
			t.Errorf("%s: Validate() = %v; want %v", tt.name, err, tt.wantErr)
		}
	}
}

func TestWith(t *testing.T) {
	base := full()
	got, err := base.With(json.RawMessage(`{"idleTimeout":"1m","wasteTypes":[8]}`))
	want := full()
	want.IdleTimeout = time.Minute
	want.WasteTypes = []int{8}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("With = %+v, %v; want %+v", got, err, want)
	}
	if !reflect.DeepEqual(base, full()) {
		t.Errorf("With changed its receiver: %+v", base)
	}
	got.WasteTypes[0] = 1
	if base.WasteTypes[0] != 7 {
		t.Errorf("With's result shares WasteTypes with its receiver")
	}
	if _, err := base.With(json.RawMessage(`{"idleTimeout":"1m","bagWarnPct":0}`)); !errors.Is(err, ErrOutOfBounds) {
		t.Errorf("With(bad patch) = %v; want ErrOutOfBounds", err)
	}
	if !reflect.DeepEqual(base, full()) {
		t.Errorf("a refused With changed its receiver: %+v", base)
	}
	if got, err := base.With(json.RawMessage(`{}`)); err != nil || !reflect.DeepEqual(got, base) {
		t.Errorf("With({}) = %+v, %v; want the receiver", got, err)
	}
}

func TestLoad(t *testing.T) {
	if c, err := Load(""); err != nil || !reflect.DeepEqual(c, Default()) {
		t.Errorf(`Load("") = %+v, %v; want Default()`, c, err)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "rvmd.json")
	if err := os.WriteFile(bad, []byte(`{"bagWarnPct":0}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(bad)
	if want := "config: " + bad + ": bagWarnPct: out of bounds: 0 not in 1..99"; !errors.Is(err, ErrOutOfBounds) || err.Error() != want {
		t.Errorf("Load(%s) = %v; want %s", bad, err, want)
	}
	if _, err := Load(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v; want os.ErrNotExist", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"idleTimeout":"45s","bagMaxKg":12.5,"wasteTypes":[7]}`))
	f.Add([]byte(`{"serial":"x","serial":"y"}`))
	f.Add([]byte(`{"bagMaxKg":0.1234567}`))
	f.Add([]byte(`[{}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if !slices.ContainsFunc([]error{ErrSyntax, ErrUnknownKey, ErrType, ErrOutOfBounds, ErrInvalid}, func(s error) bool { return errors.Is(err, s) }) {
				t.Fatalf("Parse(%s) = %v; want one of the package's errors", data, err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Validate of a parsed config (%s) = %v", data, err)
		}
		out, err := c.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON of a parsed config (%s) = %v", data, err)
		}
		again, err := Parse(out)
		if err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("Parse(%s) = %+v, %v; want %+v (from %s)", out, again, err, c, data)
		}
	})
}
