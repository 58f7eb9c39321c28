package console

import (
	"errors"
	"reflect"
	"testing"

	"github.com/deposit-rvm/rvm/internal/service/wire"
)

func TestParse(t *testing.T) {
	tests := []struct {
		args []string
		want wire.Request
		code int // 0: parses
	}{
		{[]string{"status"}, wire.Request{Cmd: "status", Args: map[string]string{}}, 0},
		{[]string{"scale", "read", "-scale", "chamber"}, wire.Request{Cmd: "scale read", Args: map[string]string{"scale": "chamber"}}, 0},
		{[]string{"calib", "span", "-grams", "2000"}, wire.Request{Cmd: "calib span", Args: map[string]string{"grams": "2000"}}, 0},
		{[]string{"calib", "span"}, wire.Request{}, ExitUsage},
		{[]string{"calib", "frob"}, wire.Request{}, ExitUsage},
		{[]string{"calib"}, wire.Request{}, ExitUsage},
		{[]string{"actuate", "conveyor", "-ms", "300"}, wire.Request{Cmd: "actuate", Args: map[string]string{"device": "conveyor", "ms": "300"}}, 0},
		{[]string{"actuate", "conveyor"}, wire.Request{}, ExitUsage},
		{[]string{"voucher", "reprint", "V-1"}, wire.Request{Cmd: "voucher reprint", Args: map[string]string{"id": "V-1"}}, 0},
		{[]string{"voucher", "reprint"}, wire.Request{}, ExitUsage},
		{[]string{"service", "on"}, wire.Request{Cmd: "service", Args: map[string]string{"mode": "on"}}, 0},
		{[]string{"service"}, wire.Request{}, ExitUsage},
		{[]string{"seal", "replace", "-old", "A123", "-new", "B456"}, wire.Request{Cmd: "seal replace", Args: map[string]string{"old": "A123", "new": "B456"}}, 0},
		{[]string{"seal", "replace", "-old", "A123"}, wire.Request{}, ExitUsage},
		{[]string{"sim", "place", "-grams", "5000"}, wire.Request{Cmd: "sim place", Args: map[string]string{"grams": "5000"}}, 0},
		{[]string{"sim", "clear"}, wire.Request{Cmd: "sim clear", Args: map[string]string{}}, 0},
		{[]string{"log", "-n", "5"}, wire.Request{Cmd: "log", Args: map[string]string{"n": "5"}}, 0},
		{[]string{"status", "extra"}, wire.Request{}, ExitUsage},
		{[]string{"scale", "read", "-bogus"}, wire.Request{}, ExitUsage},
		{[]string{}, wire.Request{}, ExitUsage},
		{[]string{"launch"}, wire.Request{}, ExitUsage},
	}
	for _, tt := range tests {
		p, err := parse(tt.args)
		if code := ExitCode(err); code != tt.code {
			t.Errorf("parse(%q) error = %v (exit %d); want exit %d", tt.args, err, code, tt.code)
			continue
		}
		if err == nil && !reflect.DeepEqual(p.req, tt.want) {
			t.Errorf("parse(%q) = %+v; want %+v", tt.args, p.req, tt.want)
		}
	}
	if p, err := parse([]string{"calibrate", "-scale", "chamber"}); err != nil || !p.guide || p.req.Args["scale"] != "chamber" {
		t.Errorf("parse(calibrate -scale chamber) = %+v, %v; want the guided flow on the chamber", p, err)
	}
	if p, err := parse([]string{"sensors", "-watch", "-count", "3"}); err != nil || !p.watch || p.count != 3 {
		t.Errorf("parse(sensors -watch -count 3) = %+v, %v; want a watch of 3", p, err)
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{{nil, 0}, {errors.New("x"), ExitFailed}, {&Error{Code: ExitUsage}, ExitUsage}}
	for _, tt := range tests {
		if got := ExitCode(tt.err); got != tt.want {
			t.Errorf("ExitCode(%v) = %d; want %d", tt.err, got, tt.want)
		}
	}
}
