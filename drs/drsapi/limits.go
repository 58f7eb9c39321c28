package drsapi

import (
	"fmt"

	"github.com/deposit-rvm/rvm/internal/ean"
	"github.com/deposit-rvm/rvm/internal/money"
)

// Bounds of the operator's data. Kaucja.pl RVM API 1.0.12 names the error
// codes (TOO_LONG, VALUE_TOO_LOW, VALUE_TOO_HIGH) but no lengths: these are
// the project's, chosen above anything real and far below what could hurt.
const (
	// MinDeposit and MaxDeposit bound a product's deposit: the system's
	// deposits are 0.50 PLN (single-use plastic and cans) and 1.00 PLN
	// (reusable glass, from 1 January 2026).
	MinDeposit money.Grosze = 1
	MaxDeposit money.Grosze = 100
	// MaxSerialLen bounds a machine's serial number.
	MaxSerialLen = 64
	// MaxIDLen bounds the other identifiers that are not UUIDs (voucher
	// codes, seal numbers, event ids, till ids).
	MaxIDLen = 64
	// MaxEANLen is a GTIN-14.
	MaxEANLen = 14
)

// CheckProduct lists what is wrong with a product the operator pushes
// (POST /product, /product/bulk), each finding with its field and row:
// an EAN with a wrong check digit or shape, a missing deposit, a deposit
// outside [MinDeposit, MaxDeposit] or in another currency than PLN.
func CheckProduct(p Product, row int) []ErrorMsg {
	var out []ErrorMsg
	add := func(code, field string, args ...string) {
		r := row
		out = append(out, ErrorMsg{ErrorCode: code, Field: field, IDRow: &r, ErrorMsgArgs: args})
	}
	switch {
	case p.EAN == "":
		add(CodeRequired, "ean")
	case len(p.EAN) > MaxEANLen:
		add(CodeTooLong, "ean", fmt.Sprint(MaxEANLen))
	default:
		if _, _, err := ean.Normalize(p.EAN); err != nil {
			add(CodeIncorrectFormat, "ean", err.Error())
		}
	}
	switch {
	case p.Deposit == nil:
		add(CodeRequired, "deposit")
	case p.Deposit.Amount < MinDeposit:
		add(CodeValueTooLow, "deposit.amount", MinDeposit.String())
	case p.Deposit.Amount > MaxDeposit:
		add(CodeValueTooHigh, "deposit.amount", MaxDeposit.String())
	}
	if p.Deposit != nil && p.Deposit.Currency != "" && p.Deposit.Currency != "PLN" {
		add(CodeIncorrectFormat, "deposit.currency", "PLN expected", p.Deposit.Currency)
	}
	return out
}
