package board

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Wiring is the Pi's pin map: which header pin or serial port each device
// is on. Parse builds it from a configuration's "pins" section and
// validates it; pin names in it are canonical ("GPIO17", never "P1_11").
type Wiring struct {
	Entry, Chamber, Exit Input // the light barriers along the belt
	Metal                Input
	Door                 Input
	Conveyor             Conveyor
	Gate                 *Output // the sorter flap, where fitted
	ChamberScale         Scale
	BagScale             Scale
	Shape                *Curtain // where fitted
	Scanner              Port
	SealReader           Port
	Printer              Port
}

// Input is one digital input.
type Input struct {
	Pin       string `json:"pin"`
	ActiveLow bool   `json:"activeLow"` // active (beam broken, metal, door open) when the line is low
	Pull      string `json:"pull"`      // "up", "down" or "none" (the default)
}

// Output is one digital output.
type Output struct {
	Pin       string `json:"pin"`
	ActiveLow bool   `json:"activeLow"`
}

// Conveyor is the belt motor driver's inputs.
type Conveyor struct {
	Dir             string `json:"dir"`
	Enable          string `json:"enable"`
	EnableActiveLow bool   `json:"enableActiveLow"`
	ReverseHigh     bool   `json:"reverseHigh"`
	// MaxRunMs caps every run's dead-man limit, in milliseconds
	// (100..60000, default 10000).
	MaxRunMs int `json:"maxRunMs"`
}

// MaxRun is MaxRunMs as a duration.
func (c Conveyor) MaxRun() time.Duration { return time.Duration(c.MaxRunMs) * time.Millisecond }

// Scale is one HX711's pins and input.
type Scale struct {
	Data    string `json:"data"`
	Clock   string `json:"clock"`
	Channel string `json:"channel"` // "A" (the default) or "B"
	Gain    int    `json:"gain"`    // 128 or 64 on channel A (default 128), 32 on B
}

// Curtain is the shape sensor: two measuring light curtains, one input per
// beam.
type Curtain struct {
	Height    []string `json:"height"` // the vertical curtain's beams, bottom first
	Width     []string `json:"width"`  // the horizontal curtain's beams
	PitchMm   int      `json:"pitchMm"`
	BaseMm    int      `json:"baseMm"`
	ActiveLow bool     `json:"activeLow"`
	Pull      string   `json:"pull"`
}

// Port is a serial device's port.
type Port struct {
	Port string `json:"port"` // a device path, /dev/ttyACM0
	Baud int    `json:"baud"`
}

// ErrWiring is wrapped by every error Parse returns.
var ErrWiring = errors.New("board: wiring")

// The keys of the "pins" section, in the order errors are looked for.
var keys = []string{"entry", "chamber", "exit", "metal", "door", "conveyor", "gate",
	"chamberScale", "bagScale", "shape", "scanner", "sealReader", "printer"}

// optional keys may be left out.
var optional = []string{"gate", "shape"}

var bauds = []int{1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200}

// header maps the Pi's 40-pin header positions (P1_N) to the BCM names
// gpioreg knows them by.
var header = map[string]string{
	"P1_3": "GPIO2", "P1_5": "GPIO3", "P1_7": "GPIO4", "P1_8": "GPIO14", "P1_10": "GPIO15",
	"P1_11": "GPIO17", "P1_12": "GPIO18", "P1_13": "GPIO27", "P1_15": "GPIO22", "P1_16": "GPIO23",
	"P1_18": "GPIO24", "P1_19": "GPIO10", "P1_21": "GPIO9", "P1_22": "GPIO25", "P1_23": "GPIO11",
	"P1_24": "GPIO8", "P1_26": "GPIO7", "P1_27": "GPIO0", "P1_28": "GPIO1", "P1_29": "GPIO5",
	"P1_31": "GPIO6", "P1_32": "GPIO12", "P1_33": "GPIO13", "P1_35": "GPIO19", "P1_36": "GPIO16",
	"P1_37": "GPIO26", "P1_38": "GPIO20", "P1_40": "GPIO21",
}

func wiringErr(key, format string, args ...any) error {
	return fmt.Errorf("%w: pins.%s: %s", ErrWiring, key, fmt.Sprintf(format, args...))
}

// Parse reads the "pins" section of the configuration (a JSON object; its
// keys are in doc.go) and validates it. Every error names the key and the
// pin or port at fault: a missing key, an unknown key, an unknown pin
// name, a pin used twice, a missing or malformed port, a bad gain.
func Parse(raw json.RawMessage) (Wiring, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return Wiring{}, fmt.Errorf("%w: pins: not a JSON object", ErrWiring)
	}
	for _, k := range sortedKeys(obj) {
		if !slices.Contains(keys, k) {
			return Wiring{}, fmt.Errorf("%w: pins: unknown key %q", ErrWiring, k)
		}
	}
	p := parser{obj: obj, used: map[string]string{}}
	var w Wiring
	p.input("entry", &w.Entry)
	p.input("chamber", &w.Chamber)
	p.input("exit", &w.Exit)
	p.input("metal", &w.Metal)
	p.input("door", &w.Door)
	p.conveyor(&w.Conveyor)
	if p.has("gate") {
		w.Gate = &Output{}
		p.output("gate", w.Gate)
	}
	p.scale("chamberScale", &w.ChamberScale)
	p.scale("bagScale", &w.BagScale)
	if p.has("shape") {
		w.Shape = &Curtain{}
		p.curtain(w.Shape)
	}
	p.port("scanner", &w.Scanner)
	p.port("sealReader", &w.SealReader)
	p.port("printer", &w.Printer)
	if p.err != nil {
		return Wiring{}, p.err
	}
	return w, nil
}

// ParseFile reads the "pins" section of the configuration file at path.
func ParseFile(path string) (Wiring, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Wiring{}, fmt.Errorf("board: %w", err)
	}
	var cfg struct {
		Pins json.RawMessage `json:"pins"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return Wiring{}, fmt.Errorf("board: %s: %w", path, err)
	}
	if cfg.Pins == nil {
		return Wiring{}, fmt.Errorf("%w: %s: no \"pins\" section", ErrWiring, path)
	}
	w, err := Parse(cfg.Pins)
	if err != nil {
		return Wiring{}, fmt.Errorf("%s: %w", path, err)
	}
	return w, nil
}

func sortedKeys(m map[string]json.RawMessage) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// parser keeps the first error; later steps do nothing once one is set.
type parser struct {
	obj  map[string]json.RawMessage
	used map[string]string // canonical pin or port path -> the key that took it
	err  error
}

func (p *parser) has(key string) bool { _, ok := p.obj[key]; return ok }

func (p *parser) fail(key, format string, args ...any) {
	if p.err == nil {
		p.err = wiringErr(key, format, args...)
	}
}

// decode reads key's object into v, refusing unknown fields.
func (p *parser) decode(key string, v any) bool {
	if p.err != nil {
		return false
	}
	raw, ok := p.obj[key]
	if !ok {
		if !slices.Contains(optional, key) {
			p.fail(key, "missing")
		}
		return false
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		p.fail(key, "not a JSON object")
		return false
	}
	// encoding/json matches names regardless of case: "activelow" would
	// pass for "activeLow". Keys must match exactly.
	known := tags(v)
	for _, k := range sortedKeys(fields) {
		if !slices.Contains(known, k) {
			p.fail(key, "unknown key %q", k)
			return false
		}
	}
	if err := json.Unmarshal(raw, v); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			p.fail(key+"."+ute.Field, "wrong type (%s, want %s)", ute.Value, ute.Type)
		} else {
			p.fail(key, "%v", err)
		}
		return false
	}
	return true
}

// pin checks name and records it as used by key; it returns the canonical
// name.
func (p *parser) pin(key, name string) string {
	if p.err != nil {
		return name
	}
	if name == "" {
		p.fail(key, "missing")
		return name
	}
	canon := name
	if g, ok := header[strings.ToUpper(name)]; ok {
		canon = g
	}
	if !validGPIO(canon) {
		p.fail(key, "unknown pin %q (want GPIO0..GPIO27 or a header position P1_N)", name)
		return name
	}
	if other, ok := p.used[canon]; ok {
		p.fail(key, "pin %s already used by pins.%s", canon, other)
		return canon
	}
	p.used[canon] = key
	return canon
}

// tags lists the JSON names of the fields of the struct v points to.
func tags(v any) []string {
	t := reflect.TypeOf(v).Elem()
	var out []string
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" {
			out = append(out, name)
		}
	}
	return out
}

func validGPIO(name string) bool {
	n, ok := strings.CutPrefix(name, "GPIO")
	if !ok || n == "" || len(n) > 2 || (len(n) == 2 && n[0] == '0') {
		return false
	}
	v := 0
	for _, c := range n {
		if c < '0' || c > '9' {
			return false
		}
		v = v*10 + int(c-'0')
	}
	return v <= 27
}

func (p *parser) pull(key, s string) {
	switch s {
	case "", "none", "up", "down":
	default:
		p.fail(key, "unknown pull %q (want up, down or none)", s)
	}
}

func (p *parser) input(key string, in *Input) {
	if p.decode(key, in) {
		in.Pin = p.pin(key+".pin", in.Pin)
		p.pull(key+".pull", in.Pull)
	}
}

func (p *parser) output(key string, out *Output) {
	if p.decode(key, out) {
		out.Pin = p.pin(key+".pin", out.Pin)
	}
}

func (p *parser) conveyor(c *Conveyor) {
	if !p.decode("conveyor", c) {
		return
	}
	c.Dir = p.pin("conveyor.dir", c.Dir)
	c.Enable = p.pin("conveyor.enable", c.Enable)
	if c.MaxRunMs == 0 {
		c.MaxRunMs = 10000
	}
	if c.MaxRunMs < 100 || c.MaxRunMs > 60000 {
		p.fail("conveyor.maxRunMs", "%d not in 100..60000", c.MaxRunMs)
	}
}

func (p *parser) scale(key string, s *Scale) {
	if !p.decode(key, s) {
		return
	}
	s.Data = p.pin(key+".data", s.Data)
	s.Clock = p.pin(key+".clock", s.Clock)
	if s.Channel == "" {
		s.Channel = "A"
	}
	switch s.Channel {
	case "A":
		if s.Gain == 0 {
			s.Gain = 128
		}
		if s.Gain != 128 && s.Gain != 64 {
			p.fail(key+".gain", "%d on channel A (want 128 or 64)", s.Gain)
		}
	case "B":
		if s.Gain == 0 {
			s.Gain = 32
		}
		if s.Gain != 32 {
			p.fail(key+".gain", "%d on channel B (want 32)", s.Gain)
		}
	default:
		p.fail(key+".channel", "unknown channel %q (want A or B)", s.Channel)
	}
}

func (p *parser) curtain(c *Curtain) {
	if !p.decode("shape", c) {
		return
	}
	if len(c.Height) == 0 {
		p.fail("shape.height", "missing (the vertical curtain's pins, bottom first)")
	}
	if len(c.Width) == 0 {
		p.fail("shape.width", "missing (the horizontal curtain's pins)")
	}
	for i := range c.Height {
		c.Height[i] = p.pin(fmt.Sprintf("shape.height[%d]", i), c.Height[i])
	}
	for i := range c.Width {
		c.Width[i] = p.pin(fmt.Sprintf("shape.width[%d]", i), c.Width[i])
	}
	if c.PitchMm < 1 || c.PitchMm > 100 {
		p.fail("shape.pitchMm", "%d not in 1..100", c.PitchMm)
	}
	if c.BaseMm < 0 || c.BaseMm > 500 {
		p.fail("shape.baseMm", "%d not in 0..500", c.BaseMm)
	}
	p.pull("shape.pull", c.Pull)
}

func (p *parser) port(key string, pt *Port) {
	if !p.decode(key, pt) {
		return
	}
	if pt.Port == "" {
		p.fail(key+".port", "missing")
		return
	}
	if !filepath.IsAbs(pt.Port) || filepath.Clean(pt.Port) != pt.Port {
		p.fail(key+".port", "%q is not a device path such as /dev/ttyACM0", pt.Port)
		return
	}
	if other, ok := p.used[pt.Port]; ok {
		p.fail(key+".port", "%s already used by pins.%s", pt.Port, other)
		return
	}
	p.used[pt.Port] = key + ".port"
	if pt.Baud == 0 {
		pt.Baud = 9600
	}
	if !slices.Contains(bauds, pt.Baud) {
		p.fail(key+".baud", "%d (want one of %v)", pt.Baud, bauds)
	}
}
