package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"periph.io/x/conn/v3/physic"
)

// Config is the machine's configuration. The JSON key of each field is in
// its comment; doc.go describes each key.
type Config struct {
	IdleTimeout         time.Duration // "idleTimeout"
	AcceptTestPhase     bool          // "acceptTestPhase"
	ShapeTolerancePct   int           // "shapeTolerancePct"
	WeightTolerancePct  int           // "weightTolerancePct"
	FraudBlockThreshold int           // "fraudBlockThreshold"
	BagMaxContainers    int           // "bagMaxContainers"
	BagMaxMass          physic.Mass   // "bagMaxKg"
	BagWarnPct          int           // "bagWarnPct"
	VoucherValidity     time.Duration // "voucherValidityDays"
	VoucherPrintType    int           // "voucherPrintType"
	ConveyorLimit       time.Duration // "conveyorLimit"
	BagSettle           time.Duration // "bagSettle"
	ScaleResolution     physic.Mass   // "scaleResolutionMg"
	HeartbeatInterval   time.Duration // "heartbeatInterval"
	OutboxBudgetBytes   int64         // "outboxBudgetMB"
	GatewayAcks         bool          // "gatewayAcks"
	Serial              string        // "serial"
	Name                string        // "name"
	Model               string        // "model"
	Manufacturer        string        // "manufacturer"
	DrsCpNo             string        // "drsCpNo"
	WasteTypes          []int         // "wasteTypes"
	BagLitrage          int           // "bagLitrage"
	ContainerBatchMax   int           // "containerBatchMax"
	ContainerBatchEvery time.Duration // "containerBatchInterval"
	ConsoleLockout      time.Duration // "consoleLockout"
	DriftWarn           physic.Mass   // "driftWarnG"
	// Pins is the Pi's wiring, kept as the JSON object the file holds:
	// package hal/periph/board parses and validates it.
	Pins json.RawMessage // "pins"
}

// Errors the package wraps; each wrapped error also names the key.
var (
	ErrSyntax      = errors.New("config: not a JSON object")
	ErrUnknownKey  = errors.New("config: unknown key")
	ErrType        = errors.New("config: wrong type")
	ErrOutOfBounds = errors.New("config: out of bounds")
	ErrInvalid     = errors.New("config: invalid value")
)

const (
	day = 24 * time.Hour
	mib = 1 << 20
)

// Default returns the configuration used for every key a file leaves out.
func Default() Config {
	return Config{
		IdleTimeout:         30 * time.Second,
		ShapeTolerancePct:   10,
		WeightTolerancePct:  20,
		FraudBlockThreshold: 2,
		BagMaxContainers:    400,
		BagMaxMass:          15 * physic.KiloGram,
		BagWarnPct:          80,
		VoucherValidity:     30 * day,
		ConveyorLimit:       5 * time.Second,
		BagSettle:           300 * time.Millisecond,
		ScaleResolution:     100 * physic.MilliGram,
		HeartbeatInterval:   60 * time.Second,
		OutboxBudgetBytes:   64 * mib,
		GatewayAcks:         true,
		Serial:              "RVM-SIM-0001",
		WasteTypes:          []int{7, 3},
		BagLitrage:          240,
		ContainerBatchMax:   250,
		ContainerBatchEvery: 5 * time.Second,
		ConsoleLockout:      5 * time.Minute,
		DriftWarn:           20 * physic.Gram,
	}
}

// failure composes a message freely while errors.Is still finds the sentinel.
type failure struct {
	msg string
	err error
}

func (f *failure) Error() string { return f.msg }
func (f *failure) Unwrap() error { return f.err }

func keyErr(sentinel error, key, format string, args ...any) error {
	what := strings.TrimPrefix(sentinel.Error(), "config: ")
	return &failure{msg: fmt.Sprintf("config: %s: %s: ", key, what) + fmt.Sprintf(format, args...), err: sentinel}
}

// field is one key: how to read it into a Config and write it back.
type field struct {
	key    string
	decode func(c *Config, raw json.RawMessage) error
	encode func(c *Config) (any, error)
}

func intField(key string, lo, hi int64, p func(*Config) *int) field {
	return field{key,
		func(c *Config, raw json.RawMessage) error {
			v, err := integer(key, raw, lo, hi)
			if err == nil {
				*p(c) = int(v)
			}
			return err
		},
		func(c *Config) (any, error) { return *p(c), nil }}
}

func boolField(key string, p func(*Config) *bool) field {
	return field{key,
		func(c *Config, raw json.RawMessage) error {
			if err := json.Unmarshal(raw, p(c)); err != nil || string(raw) == "null" {
				return keyErr(ErrType, key, "%s (want true or false)", raw)
			}
			return nil
		},
		func(c *Config) (any, error) { return *p(c), nil }}
}

func durationField(key string, lo, hi time.Duration, p func(*Config) *time.Duration) field {
	return field{key,
		func(c *Config, raw json.RawMessage) error {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil || string(raw) == "null" {
				return keyErr(ErrType, key, "%s (want a duration string such as %q)", raw, lo.String())
			}
			d, err := time.ParseDuration(s)
			if err != nil {
				return keyErr(ErrType, key, "%q (want a duration string such as %q)", s, lo.String())
			}
			if d < lo || d > hi {
				return keyErr(ErrOutOfBounds, key, "%s not in %s..%s", d, lo, hi)
			}
			*p(c) = d
			return nil
		},
		func(c *Config) (any, error) { return p(c).String(), nil }}
}

// scaledField is an integer key counting units of a larger Go value
// (days of a Duration, MiB of a byte count, mg of a Mass).
func scaledField[T ~int64](key string, lo, hi int64, unit T, p func(*Config) *T) field {
	return field{key,
		func(c *Config, raw json.RawMessage) error {
			v, err := integer(key, raw, lo, hi)
			if err == nil {
				*p(c) = T(v) * unit
			}
			return err
		},
		func(c *Config) (any, error) {
			v := *p(c)
			if v%unit != 0 {
				return nil, keyErr(ErrInvalid, key, "%d is not a whole number of %d", int64(v), int64(unit))
			}
			return int64(v / unit), nil
		}}
}

func stringField(key string, pattern *regexp.Regexp, p func(*Config) *string) field {
	return field{key,
		func(c *Config, raw json.RawMessage) error {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil || string(raw) == "null" {
				return keyErr(ErrType, key, "%s (want a string)", raw)
			}
			if pattern != nil && !pattern.MatchString(s) {
				return keyErr(ErrInvalid, key, "%q does not match %s", s, pattern)
			}
			if len(s) > maxText || !utf8.ValidString(s) {
				return keyErr(ErrInvalid, key, "%.20q… is not UTF-8 text of at most %d bytes", s, maxText)
			}
			*p(c) = s
			return nil
		},
		func(c *Config) (any, error) { return *p(c), nil }}
}

// maxText bounds the free-text keys, which end up in the DRS portal.
const maxText = 256

var serialPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// wasteTypes is WasteTypeEnum: glass, steel, aluminium, steel with
// aluminium, aluminium with widget, steel with widget, PET, HDPE, LDPE, PVC,
// PP, PS, PUR, other.
var wasteTypes = []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 99}

var fields = []field{
	durationField("idleTimeout", 5*time.Second, 10*time.Minute, func(c *Config) *time.Duration { return &c.IdleTimeout }),
	boolField("acceptTestPhase", func(c *Config) *bool { return &c.AcceptTestPhase }),
	intField("shapeTolerancePct", 0, 50, func(c *Config) *int { return &c.ShapeTolerancePct }),
	intField("weightTolerancePct", 0, 100, func(c *Config) *int { return &c.WeightTolerancePct }),
	intField("fraudBlockThreshold", 0, 100, func(c *Config) *int { return &c.FraudBlockThreshold }),
	intField("bagMaxContainers", 1, 5000, func(c *Config) *int { return &c.BagMaxContainers }),
	{"bagMaxKg", decodeBagMaxKg, encodeBagMaxKg},
	intField("bagWarnPct", 1, 99, func(c *Config) *int { return &c.BagWarnPct }),
	scaledField("voucherValidityDays", 1, 365, day, func(c *Config) *time.Duration { return &c.VoucherValidity }),
	intField("voucherPrintType", 0, 1, func(c *Config) *int { return &c.VoucherPrintType }),
	durationField("conveyorLimit", 100*time.Millisecond, 30*time.Second, func(c *Config) *time.Duration { return &c.ConveyorLimit }),
	durationField("bagSettle", 0, 5*time.Second, func(c *Config) *time.Duration { return &c.BagSettle }),
	scaledField("scaleResolutionMg", 1, 10000, physic.MilliGram, func(c *Config) *physic.Mass { return &c.ScaleResolution }),
	durationField("heartbeatInterval", 5*time.Second, time.Hour, func(c *Config) *time.Duration { return &c.HeartbeatInterval }),
	scaledField("outboxBudgetMB", 1, 10000, int64(mib), func(c *Config) *int64 { return &c.OutboxBudgetBytes }),
	boolField("gatewayAcks", func(c *Config) *bool { return &c.GatewayAcks }),
	stringField("serial", serialPattern, func(c *Config) *string { return &c.Serial }),
	stringField("name", nil, func(c *Config) *string { return &c.Name }),
	stringField("model", nil, func(c *Config) *string { return &c.Model }),
	stringField("manufacturer", nil, func(c *Config) *string { return &c.Manufacturer }),
	stringField("drsCpNo", nil, func(c *Config) *string { return &c.DrsCpNo }),
	{"wasteTypes", decodeWasteTypes, func(c *Config) (any, error) { return c.WasteTypes, nil }},
	intField("bagLitrage", 10, 2000, func(c *Config) *int { return &c.BagLitrage }),
	intField("containerBatchMax", 1, 1000, func(c *Config) *int { return &c.ContainerBatchMax }),
	durationField("containerBatchInterval", 100*time.Millisecond, 10*time.Minute, func(c *Config) *time.Duration { return &c.ContainerBatchEvery }),
	durationField("consoleLockout", time.Second, 24*time.Hour, func(c *Config) *time.Duration { return &c.ConsoleLockout }),
	scaledField("driftWarnG", 1, 10000, physic.Gram, func(c *Config) *physic.Mass { return &c.DriftWarn }),
	{"pins", decodePins, encodePins},
}

// decodePins keeps the wiring object as it is (compacted); its keys are
// the board's to check.
func decodePins(c *Config, raw json.RawMessage) error {
	if _, err := object(raw); err != nil {
		return keyErr(ErrType, "pins", "%.40s (want an object naming each device's pins)", raw)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return keyErr(ErrType, "pins", "%v", err)
	}
	c.Pins = b.Bytes()
	if string(c.Pins) == "{}" {
		c.Pins = nil // no wiring, as in Default()
	}
	return nil
}

func encodePins(c *Config) (any, error) {
	if len(c.Pins) == 0 {
		return json.RawMessage("{}"), nil
	}
	return c.Pins, nil
}

// Keys returns every configuration key, in the order MarshalJSON writes them.
func Keys() []string {
	keys := make([]string, len(fields))
	for i, f := range fields {
		keys[i] = f.key
	}
	return keys
}

// integer reads an integer literal: 10.0 or 1e1 are refused rather than
// rounded, since a fraction in a count or percentage is a mistake.
func integer(key string, raw json.RawMessage, lo, hi int64) (int64, error) {
	s := string(raw)
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, keyErr(ErrOutOfBounds, key, "%s not in %d..%d", s, lo, hi)
		}
		return 0, keyErr(ErrType, key, "%s (want an integer)", s)
	}
	if v < lo || v > hi {
		return 0, keyErr(ErrOutOfBounds, key, "%d not in %d..%d", v, lo, hi)
	}
	return v, nil
}

func decodeBagMaxKg(c *Config, raw json.RawMessage) error {
	const key = "bagMaxKg"
	var kg float64
	if err := json.Unmarshal(raw, &kg); err != nil || string(raw) == "null" {
		return keyErr(ErrType, key, "%s (want a number of kilograms)", raw)
	}
	if kg < 0.1 || kg > 100 {
		return keyErr(ErrOutOfBounds, key, "%v not in 0.1..100", kg)
	}
	// Round on the decimal text to the milligram (half away from zero):
	// kg·1e6 in floating point would turn 0.3 into 299999.99….
	s := strconv.FormatFloat(kg, 'f', -1, 64)
	whole, frac, _ := strings.Cut(s, ".")
	up := len(frac) > 6 && frac[6] >= '5'
	if len(frac) > 6 {
		frac = frac[:6]
	}
	mg, _ := strconv.ParseInt(whole+frac+strings.Repeat("0", 6-len(frac)), 10, 64)
	if up {
		mg++
	}
	c.BagMaxMass = physic.Mass(mg) * physic.MilliGram
	return nil
}

func encodeBagMaxKg(c *Config) (any, error) {
	m := c.BagMaxMass
	if m%physic.MilliGram != 0 || m < 0 {
		return nil, keyErr(ErrInvalid, "bagMaxKg", "%d ng is not a whole number of milligrams", int64(m))
	}
	mg := int64(m / physic.MilliGram)
	s := strconv.FormatInt(mg/1_000_000, 10)
	if frac := mg % 1_000_000; frac != 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%06d", frac), "0")
	}
	return json.Number(s), nil
}

func decodeWasteTypes(c *Config, raw json.RawMessage) error {
	const key = "wasteTypes"
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil || string(raw) == "null" {
		return keyErr(ErrType, key, "%s (want an array of WasteTypeEnum integers)", raw)
	}
	if len(items) == 0 {
		return keyErr(ErrInvalid, key, "empty (the bin takes at least one waste type)")
	}
	out := make([]int, 0, len(items))
	for _, it := range items {
		v, err := integer(key, it, math.MinInt32, math.MaxInt32)
		if err != nil {
			return err
		}
		if !slices.Contains(wasteTypes, int(v)) {
			return keyErr(ErrOutOfBounds, key, "%d is not a WasteTypeEnum value (1..13 or 99)", v)
		}
		if slices.Contains(out, int(v)) {
			return keyErr(ErrInvalid, key, "%d listed twice", v)
		}
		out = append(out, int(v))
	}
	c.WasteTypes = out
	return nil
}

// Parse reads a JSON object over Default(): keys it leaves out keep their
// defaults.
func Parse(data []byte) (Config, error) {
	return Default().With(data)
}

// Load reads the configuration file at path; an empty path is Default().
// Errors name the file.
func Load(path string) (Config, error) {
	if path == "" {
		return Default(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return Config{}, &failure{msg: "config: " + path + ": " + strings.TrimPrefix(err.Error(), "config: "), err: err}
	}
	return c, nil
}

// With returns c with the keys of patch (a JSON object) changed, validated
// like Parse. c itself is unchanged, also when patch is refused.
func (c Config) With(patch json.RawMessage) (Config, error) {
	obj, err := object(patch)
	if err != nil {
		return Config{}, err
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys) // report the same key first on every run
	out := c
	out.WasteTypes = slices.Clone(c.WasteTypes)
	out.Pins = slices.Clone(c.Pins)
	for _, k := range keys {
		i := slices.IndexFunc(fields, func(f field) bool { return f.key == k })
		if i < 0 {
			return Config{}, unknownKey(k)
		}
		if err := fields[i].decode(&out, obj[k]); err != nil {
			return Config{}, err
		}
	}
	return out, nil
}

// object decodes a JSON object, refusing a key given twice: with the
// standard decoder the last one would silently win.
func object(data []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, &failure{msg: fmt.Sprintf("%v: starts with %v", ErrSyntax, describe(tok, err)), err: ErrSyntax}
	}
	obj := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, &failure{msg: fmt.Sprintf("%v: %v", ErrSyntax, err), err: ErrSyntax}
		}
		k := tok.(string) // inside an object, the decoder yields only string keys here
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, &failure{msg: fmt.Sprintf("%v: %s: %v", ErrSyntax, k, err), err: ErrSyntax}
		}
		if _, dup := obj[k]; dup {
			return nil, keyErr(ErrInvalid, k, "given twice")
		}
		obj[k] = raw
	}
	if _, err := dec.Token(); err != nil {
		return nil, &failure{msg: fmt.Sprintf("%v: %v", ErrSyntax, err), err: ErrSyntax}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &failure{msg: fmt.Sprintf("%v: data after the object", ErrSyntax), err: ErrSyntax}
	}
	return obj, nil
}

func describe(tok json.Token, err error) string {
	if err != nil {
		return err.Error()
	}
	if tok == nil {
		return "null"
	}
	return fmt.Sprintf("%v", tok)
}

func unknownKey(k string) error {
	msg := fmt.Sprintf("config: unknown key %q", k)
	if s := closest(k); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return &failure{msg: msg, err: ErrUnknownKey}
}

// closest returns the known key nearest to k, ignoring case, if it is near
// enough to be a typo of it.
func closest(k string) string {
	best, bestD := "", math.MaxInt
	for _, f := range fields {
		if d := distance(strings.ToLower(k), strings.ToLower(f.key)); d < bestD {
			best, bestD = f.key, d
		}
	}
	if bestD <= max(2, len(best)/3) {
		return best
	}
	return ""
}

// distance is the Levenshtein distance between a and b, by bytes (the keys
// are ASCII).
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// MarshalJSON writes every key, in the order of Keys, so that the result
// parses back to c. It fails for a value the keys cannot express (a voucher
// validity that is not whole days, a budget that is not whole MiB, a mass
// finer than a milligram).
func (c Config) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range fields {
		v, err := f.encode(&c)
		if err != nil {
			return nil, err
		}
		val, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("config: %s: %w", f.key, err)
		}
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%s", f.key, val)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Validate checks c against every key's bounds, for a Config built in code:
// it is valid exactly when it survives a trip through MarshalJSON and Parse.
func (c Config) Validate() error {
	data, err := c.MarshalJSON()
	if err != nil {
		return err
	}
	_, err = Parse(data)
	return err
}
