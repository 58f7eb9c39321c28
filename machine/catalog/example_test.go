package catalog_test

import (
	"fmt"

	"github.com/deposit-rvm/rvm/machine/catalog"
	"github.com/deposit-rvm/rvm/machine/catalog/sample"
)

func ExampleCatalog_Lookup() {
	products, err := catalog.Parse(sample.SampleJSON)
	if err != nil {
		panic(err)
	}
	cat, err := catalog.New(1, products)
	if err != nil {
		panic(err)
	}
	p, ok := cat.Lookup("5901012005012")
	fmt.Println(ok, p.Name, p.Deposit, p.Currency, p.Reusable, p.WeightMin, p.WeightMax)
	_, ok = cat.Lookup("5901012005013") // wrong check digit
	fmt.Println(ok)
	// Output:
	// true Tyskie Gronie 0,5 L butelka zwrotna 1.00 PLN true 285g 340g
	// false
}
