package board

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// small is a complete wiring without the optional devices.
const small = `{
	"entry":        {"pin": "GPIO17", "activeLow": true},
	"chamber":      {"pin": "GPIO27", "activeLow": true},
	"exit":         {"pin": "GPIO22", "activeLow": true},
	"metal":        {"pin": "GPIO23", "activeLow": true, "pull": "up"},
	"door":         {"pin": "GPIO24"},
	"conveyor":     {"dir": "GPIO5", "enable": "GPIO6"},
	"chamberScale": {"data": "GPIO20", "clock": "GPIO21"},
	"bagScale":     {"data": "GPIO19", "clock": "GPIO26", "gain": 64},
	"scanner":      {"port": "/dev/ttyACM0"},
	"sealReader":   {"port": "/dev/ttyACM1", "baud": 9600},
	"printer":      {"port": "/dev/ttyUSB0", "baud": 19200}
}`

// with returns small with key set to the raw JSON value, or removed if
// value is "".
func with(t *testing.T, key, value string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(small), &m); err != nil {
		t.Fatal(err)
	}
	if value == "" {
		delete(m, key)
	} else {
		m[key] = json.RawMessage(value)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParse(t *testing.T) {
	w, err := Parse(json.RawMessage(small))
	if err != nil {
		t.Fatalf("Parse(small) = %v", err)
	}
	want := Wiring{
		Entry:        Input{Pin: "GPIO17", ActiveLow: true},
		Chamber:      Input{Pin: "GPIO27", ActiveLow: true},
		Exit:         Input{Pin: "GPIO22", ActiveLow: true},
		Metal:        Input{Pin: "GPIO23", ActiveLow: true, Pull: "up"},
		Door:         Input{Pin: "GPIO24"},
		Conveyor:     Conveyor{Dir: "GPIO5", Enable: "GPIO6", MaxRunMs: 10000},
		ChamberScale: Scale{Data: "GPIO20", Clock: "GPIO21", Channel: "A", Gain: 128},
		BagScale:     Scale{Data: "GPIO19", Clock: "GPIO26", Channel: "A", Gain: 64},
		Scanner:      Port{Port: "/dev/ttyACM0", Baud: 9600},
		SealReader:   Port{Port: "/dev/ttyACM1", Baud: 9600},
		Printer:      Port{Port: "/dev/ttyUSB0", Baud: 19200},
	}
	if !reflect.DeepEqual(w, want) {
		t.Errorf("Parse(small) = %+v; want %+v", w, want)
	}
}

// Header positions are read as the BCM pins they are.
func TestParseHeaderNames(t *testing.T) {
	w, err := Parse(with(t, "entry", `{"pin": "P1_12"}`))
	if err != nil || w.Entry.Pin != "GPIO18" {
		t.Errorf("Parse(entry P1_12) = %q, %v; want GPIO18, nil", w.Entry.Pin, err)
	}
}

func TestParseExample(t *testing.T) {
	w, err := ParseFile("../../../docs/wiring.example.json")
	if err != nil {
		t.Fatalf("ParseFile(docs/wiring.example.json) = %v", err)
	}
	if w.Shape == nil || len(w.Shape.Height) != 8 || w.Gate == nil {
		t.Errorf("the example's shape %+v, gate %+v; want 8 height beams and a gate", w.Shape, w.Gate)
	}
}

// Every wiring error is refused with a message naming the key and the pin
// or port.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, key, value string
		want             string
	}{
		{"missing device", "exit", "",
			"board: wiring: pins.exit: missing"},
		{"missing pin", "metal", `{"activeLow": true}`,
			"board: wiring: pins.metal.pin: missing"},
		{"missing clock pin", "bagScale", `{"data": "GPIO19"}`,
			"board: wiring: pins.bagScale.clock: missing"},
		{"missing conveyor enable", "conveyor", `{"dir": "GPIO5"}`,
			"board: wiring: pins.conveyor.enable: missing"},
		{"pin used twice", "door", `{"pin": "GPIO17"}`,
			"board: wiring: pins.door.pin: pin GPIO17 already used by pins.entry.pin"},
		{"pin used twice by header name", "door", `{"pin": "P1_11"}`,
			"board: wiring: pins.door.pin: pin GPIO17 already used by pins.entry.pin"},
		{"pin used twice in one device", "conveyor", `{"dir": "GPIO5", "enable": "GPIO5"}`,
			"board: wiring: pins.conveyor.enable: pin GPIO5 already used by pins.conveyor.dir"},
		{"unknown pin name", "metal", `{"pin": "GPIO99"}`,
			`board: wiring: pins.metal.pin: unknown pin "GPIO99" (want GPIO0..GPIO27 or a header position P1_N)`},
		{"unknown pin name, leading zero", "metal", `{"pin": "GPIO05"}`,
			`board: wiring: pins.metal.pin: unknown pin "GPIO05" (want GPIO0..GPIO27 or a header position P1_N)`},
		{"unknown pin name, power pin", "metal", `{"pin": "P1_2"}`,
			`board: wiring: pins.metal.pin: unknown pin "P1_2" (want GPIO0..GPIO27 or a header position P1_N)`},
		{"unknown pin name, scale", "chamberScale", `{"data": "D5", "clock": "GPIO21"}`,
			`board: wiring: pins.chamberScale.data: unknown pin "D5" (want GPIO0..GPIO27 or a header position P1_N)`},
		{"missing port", "scanner", `{"baud": 9600}`,
			"board: wiring: pins.scanner.port: missing"},
		{"missing serial device", "printer", "",
			"board: wiring: pins.printer: missing"},
		{"port not a path", "sealReader", `{"port": "COM3"}`,
			`board: wiring: pins.sealReader.port: "COM3" is not a device path such as /dev/ttyACM0`},
		{"port used twice", "printer", `{"port": "/dev/ttyACM0"}`,
			"board: wiring: pins.printer.port: /dev/ttyACM0 already used by pins.scanner.port"},
		{"bad baud", "scanner", `{"port": "/dev/ttyACM0", "baud": 9601}`,
			"board: wiring: pins.scanner.baud: 9601 (want one of [1200 2400 4800 9600 19200 38400 57600 115200])"},
		{"unknown key in a device", "entry", `{"pin": "GPIO17", "activelow": true}`,
			`board: wiring: pins.entry: unknown key "activelow"`},
		{"unknown device", "bin", `{"pin": "GPIO2"}`,
			`board: wiring: pins: unknown key "bin"`},
		{"wrong type", "entry", `{"pin": 17}`,
			"board: wiring: pins.entry.pin: wrong type (number, want string)"},
		{"bad pull", "door", `{"pin": "GPIO24", "pull": "high"}`,
			`board: wiring: pins.door.pull: unknown pull "high" (want up, down or none)`},
		{"gain on channel A", "chamberScale", `{"data": "GPIO20", "clock": "GPIO21", "gain": 32}`,
			"board: wiring: pins.chamberScale.gain: 32 on channel A (want 128 or 64)"},
		{"gain on channel B", "chamberScale", `{"data": "GPIO20", "clock": "GPIO21", "channel": "B", "gain": 128}`,
			"board: wiring: pins.chamberScale.gain: 128 on channel B (want 32)"},
		{"bad channel", "chamberScale", `{"data": "GPIO20", "clock": "GPIO21", "channel": "C"}`,
			`board: wiring: pins.chamberScale.channel: unknown channel "C" (want A or B)`},
		{"conveyor limit", "conveyor", `{"dir": "GPIO5", "enable": "GPIO6", "maxRunMs": 90000}`,
			"board: wiring: pins.conveyor.maxRunMs: 90000 not in 100..60000"},
		{"gate without pin", "gate", `{}`,
			"board: wiring: pins.gate.pin: missing"},
		{"gate on a used pin", "gate", `{"pin": "GPIO6"}`,
			"board: wiring: pins.gate.pin: pin GPIO6 already used by pins.conveyor.enable"},
		{"shape without height", "shape", `{"width": ["GPIO2"], "pitchMm": 10}`,
			"board: wiring: pins.shape.height: missing (the vertical curtain's pins, bottom first)"},
		{"shape beam used twice", "shape", `{"height": ["GPIO2", "GPIO3"], "width": ["GPIO3"], "pitchMm": 10}`,
			"board: wiring: pins.shape.width[0]: pin GPIO3 already used by pins.shape.height[1]"},
		{"shape pitch", "shape", `{"height": ["GPIO2"], "width": ["GPIO3"]}`,
			"board: wiring: pins.shape.pitchMm: 0 not in 1..100"},
		{"device not an object", "entry", `"GPIO17"`,
			"board: wiring: pins.entry: not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := with(t, tt.key, tt.value)
			_, err := Parse(raw)
			if err == nil || err.Error() != tt.want || !errors.Is(err, ErrWiring) {
				t.Errorf("Parse(%s) = %v; want %q", raw, err, tt.want)
			}
		})
	}
}

func TestParseNotAnObject(t *testing.T) {
	for _, in := range []string{`[]`, `null`, `"pins"`, `{`} {
		if _, err := Parse(json.RawMessage(in)); err == nil || err.Error() != "board: wiring: pins: not a JSON object" {
			t.Errorf("Parse(%s) = %v; want board: wiring: pins: not a JSON object", in, err)
		}
	}
}
