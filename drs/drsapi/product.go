package drsapi

import "github.com/deposit-rvm/rvm/internal/money"

// Collection statuses of a product (ProductStatusEnum).
const (
	StatusEarly  = 0 // early phase: reject
	StatusAccept = 1 // accept
	StatusReject = 2 // reject
	StatusTest   = 3 // test phase: reject unless configured otherwise
)

// Packaging codes (PackagingTypeEnum).
const (
	PackagingPlastic = 1
	PackagingCan     = 2
	PackagingGlass   = 3
)

// Product is one entry of the operator's catalogue (GET /product).
// Pointer fields are optional in the operator's data.
type Product struct {
	ID                 string    `json:"id,omitempty"`
	EAN                string    `json:"ean"`
	Name               string    `json:"name"`
	PublishedName      string    `json:"publishedName,omitempty"`
	Deposit            *Deposit  `json:"deposit,omitempty"`
	CollectionStatusID *int      `json:"collectionStatusId,omitempty"`
	Packaging          Packaging `json:"packaging"`
	Diameters          Diameters `json:"diameters"`
	Weight             Weight    `json:"weight"`
	Image              string    `json:"image,omitempty"`
	DrsOperatorID      int       `json:"drsOperatorId,omitempty"`
	CreationDate       string    `json:"creationDate,omitempty"`
	UpdatedDate        string    `json:"updatedDate,omitempty"`
}

// Deposit is a product's deposit.
type Deposit struct {
	Amount   money.Grosze `json:"amount"`
	Currency string       `json:"currency,omitempty"`
}

// Packaging describes a product's container.
type Packaging struct {
	Reusable      bool `json:"reusable"`
	PackagingCode int  `json:"packagingCode,omitempty"`
	MaterialCode  int  `json:"materialCode,omitempty"`
	ColorID       int  `json:"colorId,omitempty"`
}

// Diameters are a product's declared volume (ml) and size (mm).
type Diameters struct {
	Volume   int      `json:"volume,omitempty"`
	Height   *float64 `json:"height,omitempty"`
	Diameter *float64 `json:"diameter,omitempty"`
}

// Weight is a product's weight in grams.
type Weight struct {
	WithoutCap *float64 `json:"withoutCap,omitempty"`
	WithCap    *float64 `json:"withCap,omitempty"`
	Cap        *float64 `json:"cap,omitempty"`
	Min        *float64 `json:"min,omitempty"`
	Max        *float64 `json:"max,omitempty"`
}

// ProductPage is one page of GET /product.
type ProductPage struct {
	PageNo         int       `json:"pageNo"`
	PageSize       int       `json:"pageSize"`
	TotalItemCount int       `json:"totalItemCount"`
	Data           []Product `json:"data"`
}
