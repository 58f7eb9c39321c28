package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// openAPI is docs/gateway-openapi.yaml, against which the tests check the
// gateway's answers: a small checker of the schema subset the file uses
// (type, required, properties, additionalProperties, items, enum, $ref,
// nullable).
type openAPI struct {
	Paths      map[string]map[string]operation `yaml:"paths"`
	Components struct {
		Schemas map[string]*schema `yaml:"schemas"`
	} `yaml:"components"`
}

type operation struct {
	Responses map[string]struct {
		Content map[string]struct {
			Schema *schema `yaml:"schema"`
		} `yaml:"content"`
	} `yaml:"responses"`
}

type schema struct {
	Ref        string             `yaml:"$ref"`
	Type       string             `yaml:"type"`
	Required   []string           `yaml:"required"`
	Properties map[string]*schema `yaml:"properties"`
	Items      *schema            `yaml:"items"`
	Enum       []string           `yaml:"enum"`
	Nullable   bool               `yaml:"nullable"`
}

func loadOpenAPI(t *testing.T) *openAPI {
	t.Helper()
	b, err := os.ReadFile("../../docs/gateway-openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var o openAPI
	if err := yaml.Unmarshal(b, &o); err != nil {
		t.Fatalf("docs/gateway-openapi.yaml: %v", err)
	}
	return &o
}

// route finds the documented path template that path matches.
func (o *openAPI) route(path string) (string, bool) {
	path, _, _ = strings.Cut(path, "?")
	segs := strings.Split(path, "/")
	keys := make([]string, 0, len(o.Paths))
	for k := range o.Paths {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ts := strings.Split(k, "/")
		if len(ts) != len(segs) {
			continue
		}
		ok := true
		for i := range ts {
			if ts[i] != segs[i] && !strings.HasPrefix(ts[i], "{") {
				ok = false
				break
			}
		}
		if ok {
			return k, true
		}
	}
	return "", false
}

// check fails t when the answer (status, body) to method path is not
// one the file documents. Routes the file does not describe (the fleet's,
// the operator's) are not checked.
func (o *openAPI) check(t *testing.T, method, path string, status int, body []byte) {
	t.Helper()
	tmpl, ok := o.route(path)
	if !ok {
		return
	}
	op, ok := o.Paths[tmpl][strings.ToLower(method)]
	if !ok {
		t.Errorf("openapi: %s %s is not documented", method, tmpl)
		return
	}
	resp, ok := op.Responses[strconv.Itoa(status)]
	if !ok {
		t.Errorf("openapi: %s %s answered %d, which is not documented: %s", method, tmpl, status, body)
		return
	}
	c, ok := resp.Content["application/json"]
	if !ok || c.Schema == nil {
		return
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Errorf("openapi: %s %s %d: not JSON: %s", method, tmpl, status, body)
		return
	}
	if err := o.validate(c.Schema, v, "body"); err != nil {
		t.Errorf("openapi: %s %s %d: %v\n%s", method, tmpl, status, err, body)
	}
}

func (o *openAPI) validate(s *schema, v any, at string) error {
	if s.Ref != "" {
		name := strings.TrimPrefix(s.Ref, "#/components/schemas/")
		ref, ok := o.Components.Schemas[name]
		if !ok {
			return fmt.Errorf("%s: unknown $ref %s", at, s.Ref)
		}
		return o.validate(ref, v, at)
	}
	if v == nil {
		if s.Nullable {
			return nil
		}
		return fmt.Errorf("%s: null", at)
	}
	switch s.Type {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: %T, want object", at, v)
		}
		for _, r := range s.Required {
			if _, ok := m[r]; !ok {
				return fmt.Errorf("%s: required %q missing", at, r)
			}
		}
		for k, pv := range m {
			ps, ok := s.Properties[k]
			if !ok {
				return fmt.Errorf("%s: property %q not documented", at, k)
			}
			if err := o.validate(ps, pv, at+"."+k); err != nil {
				return err
			}
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: %T, want array", at, v)
		}
		for i, e := range a {
			if err := o.validate(s.Items, e, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: %T, want string", at, v)
		}
		if len(s.Enum) > 0 && !contains(s.Enum, str) {
			return fmt.Errorf("%s: %q not one of %v", at, str, s.Enum)
		}
	case "number", "integer":
		f, ok := v.(float64)
		if !ok {
			return fmt.Errorf("%s: %T, want %s", at, v, s.Type)
		}
		if s.Type == "integer" && f != float64(int64(f)) {
			return fmt.Errorf("%s: %v, want integer", at, f)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: %T, want boolean", at, v)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// The checker refuses what it should: a test of the test.
func TestOpenAPICheckerRefuses(t *testing.T) {
	o := loadOpenAPI(t)
	s := &schema{Ref: "#/components/schemas/Voucher"}
	tests := []struct {
		body string
		ok   bool
	}{
		{`{"code":"1","amount":1.5,"currency":"PLN","status":"active","redeemType":0}`, true},
		{`{"code":"1","amount":1.5,"currency":"PLN","status":"valid","redeemType":0}`, false},
		{`{"code":"1","status":"active","redeemType":0,"extra":1}`, false},
		{`{"amount":1.5,"status":"active","redeemType":0}`, false},
		{`{"code":1,"status":"active","redeemType":0}`, false},
	}
	for _, tt := range tests {
		var v any
		json.Unmarshal([]byte(tt.body), &v)
		if err := o.validate(s, v, "body"); (err == nil) != tt.ok {
			t.Errorf("validate(Voucher, %s) = %v; want ok %v", tt.body, err, tt.ok)
		}
	}
}
