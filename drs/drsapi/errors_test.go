package drsapi

import (
	"testing"
	"time"
)

func TestParseError(t *testing.T) {
	tests := []struct {
		body string
		code string
		str  string
		nil  bool
	}{
		{`{"httpStatus":422,"errorType":"api.err.type.business","errorMsg":[{"errorCode":"TRS_PRODUCT_BAD_STATUS","field":"containers.ean","idRow":2,"idRow2":0,"errorMsgLabel":"api.err.msg.trs.product.bad.status","errorMsgArgs":["INACTIVE","x"]}]}`,
			"TRS_PRODUCT_BAD_STATUS", "TRS_PRODUCT_BAD_STATUS containers.ean[2][0]: api.err.msg.trs.product.bad.status (INACTIVE, x)", false},
		{`{"errorCode":5,"msg":"Conflicting ID of the request.","path":"/transaction"}`, "5", "5: Conflicting ID of the request.", false},
		{`{"errorCode":"8","msg":"Machine doesn't belong to given DRS operator."}`, "8", "8: Machine doesn't belong to given DRS operator.", false},
		{`{"msg":"Unauthorized"}`, "", "Unauthorized", false},
		{`{"httpStatus":503,"errorType":"api.err.type.technical"}`, "", "api.err.type.technical", false},
		{`{"httpStatus":400,"errorMsg":[{"errorCode":"REQUIRED","field":"id"},{"errorCode":"REQUIRED","field":"rvmId"}]}`, "REQUIRED", "REQUIRED id; REQUIRED rvmId", false},
		{`{}`, "", "", true},
		{`[]`, "", "", true},
		{`<html>`, "", "", true},
		{``, "", "", true},
	}
	for _, tt := range tests {
		e := ParseError([]byte(tt.body))
		if (e == nil) != tt.nil {
			t.Errorf("ParseError(%q) = %+v; want nil %v", tt.body, e, tt.nil)
			continue
		}
		if got := e.Code(); got != tt.code {
			t.Errorf("ParseError(%q).Code() = %q; want %q", tt.body, got, tt.code)
		}
		if got := e.String(); got != tt.str {
			t.Errorf("ParseError(%q).String() = %q; want %q", tt.body, got, tt.str)
		}
	}
}

func TestParseDays(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"30d", 30 * 24 * time.Hour, false},
		{" 7 ", 7 * 24 * time.Hour, false},
		{"0d", 0, false},
		{"-1d", 0, true},
		{"30 days", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseDays(tt.in)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("ParseDays(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestProductQueryValues(t *testing.T) {
	tests := []struct {
		q    ProductQuery
		want string
	}{
		{ProductQuery{}, "pageLength=50&startIndex=0"},
		{ProductQuery{StartIndex: -3, PageLength: 51}, "pageLength=50&startIndex=0"},
		{ProductQuery{StartIndex: 100, PageLength: 20, SendImages: true}, "pageLength=20&sendImages=true&startIndex=100"},
		{ProductQuery{UpdatedAfter: time.Date(2026, 1, 5, 9, 30, 0, 999, time.FixedZone("CET", 3600)), CreatedAfter: time.Date(2025, 10, 1, 0, 0, 0, 0, time.UTC)},
			"createdAfter=2025-10-01T00%3A00%3A00Z&pageLength=50&startIndex=0&updatedAfter=2026-01-05T08%3A30%3A00Z"},
	}
	for _, tt := range tests {
		if got := tt.q.Values().Encode(); got != tt.want {
			t.Errorf("%+v.Values() = %q; want %q", tt.q, got, tt.want)
		}
	}
}
