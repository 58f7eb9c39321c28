package escpos_test

import (
	"fmt"

	"github.com/deposit-rvm/rvm/hal/periph/escpos"
)

func ExampleVoucher_Ticket() {
	t, err := escpos.Voucher{Code: "2912345678906", Amount: "1,50", PrintType: escpos.PrintQR, ValidUntil: "2026-02-04"}.Ticket()
	fmt.Println(t.Code, t.Grosze, t.Amount, t.ValidUntil.Format("02.01.2006"), err)
	// Output: 2912345678906 150 1.50 PLN 04.02.2026 <nil>
}
