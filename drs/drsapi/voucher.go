package drsapi

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// VoucherData is the operator's answer to POST /transaction (200VoucherData):
// the voucher code to print and how to print it. IssuedAt and ValidUntil are
// RFC 3339 date-times.
type VoucherData struct {
	ID         string `json:"id,omitempty"`
	PrintType  int    `json:"printType"`
	IssuedAt   string `json:"issuedAt,omitempty"`
	ValidUntil string `json:"validUntil,omitempty"`
}

// VoucherBuffer is the answer to GET /voucher/buffer: codes reserved for one
// machine so that it can print vouchers while offline. DaysUntilExpiration
// reads like "30d"; see [ParseDays].
type VoucherBuffer struct {
	VoucherIDList       []string `json:"voucherIdList"`
	PrintType           int      `json:"printType"`
	DaysUntilExpiration string   `json:"daysUntilExpiration,omitempty"`
}

// VoucherRedeem tells the operator that a voucher was paid out
// (POST /voucher/redeem, components.schemas.Voucher). ID, RedeemType (1, 2, 3
// or 99: a redemption is never [RedeemValid]) and RedeemDate are required.
type VoucherRedeem struct {
	ID         string `json:"id"`
	RedeemType int    `json:"redeemType"`
	RedeemDate string `json:"redeemDate"`
	RvmID      string `json:"rvmId,omitempty"`
}

// ParseDays reads the operator's validity period ("30d", or a bare "30") as a
// duration of whole days.
func ParseDays(s string) (time.Duration, error) {
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(s), "d"))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("drsapi: validity %q is not a number of days", s)
	}
	return time.Duration(n) * 24 * time.Hour, nil
}
