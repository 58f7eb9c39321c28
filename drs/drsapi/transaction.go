package drsapi

// Rejection causes (RejectionCauseEnum).
const (
	CauseOK             = 0 // accepted
	CauseFraud          = 1 // fraudulent behaviour detected
	CauseCrushed        = 2 // container crushed (shape off)
	CauseBarcodeDamaged = 3 // a code was seen but not decoded
	CauseBarcodeMissing = 4 // no code seen
	CauseInvalidEAN     = 5 // wrong check digit or shape of code
	CauseNotAccepted    = 6 // not in the catalogue, not accepted, or not empty
)

// Redeem types of a voucher (VoucherBase.redeemType).
const (
	RedeemValid    = 0  // not redeemed yet
	RedeemCash     = 1  // exchanged for cash
	RedeemDiscount = 2  // discount on the bill
	RedeemCharity  = 3  // donated
	RedeemOther    = 99 // other
)

// Print types of a voucher (VoucherPrintTypeEnum).
const (
	PrintBarcode = 0 // Code128 / EAN-13
	PrintQR      = 1 // QR code
)

// Transaction is one customer session as the operator receives it
// (POST /transaction). The id is the idempotency key.
type Transaction struct {
	ID                   string       `json:"id"`
	RvmID                string       `json:"rvmId"`
	TransactionBlocked   bool         `json:"transactionBlocked"`
	TotalAmount          int          `json:"totalAmount"`
	TotalWeight          int64        `json:"totalWeight"`
	Voucher              *VoucherBase `json:"voucher,omitempty"`
	TransactionStartTime string       `json:"transactionStartTime"`
	TransactionEndTime   string       `json:"transactionEndTime"`
	TotalAccepted        int          `json:"totalAccepted"`
	TotalRejected        int          `json:"totalRejected"`
	Containers           []Container  `json:"containers"`
}

// Container is one row of a transaction: the containers of one EAN with one
// rejection cause. Weight is the row's total in whole grams.
type Container struct {
	EAN                string `json:"ean"`
	Count              int    `json:"count"`
	Weight             int64  `json:"weight"`
	RejectionCauseCode int    `json:"rejectionCauseCode"`
}

// ContainerFull is one EAN's count of accepted containers (bag replacement).
type ContainerFull struct {
	EAN   string `json:"ean"`
	Count int    `json:"count"`
}

// VoucherBase is the voucher part of a transaction.
type VoucherBase struct {
	ID         string `json:"id"`
	Redeemed   bool   `json:"redeemed"`
	RedeemType int    `json:"redeemType"`
}

// TransactionConfirmation is the operator's answer to a transaction.
type TransactionConfirmation struct {
	Blocked  bool    `json:"blocked"`
	Amount   float64 `json:"amount,omitempty"`
	Currency string  `json:"currency,omitempty"`
}

// TransactionAnswer is the operator's 200 answer to POST /transaction: the
// voucher data, and, where the operator sends them (its
// 200TransactionProcessed response), whether the transaction is blocked
// from payment and the amount to pay.
type TransactionAnswer struct {
	VoucherData
	TransactionConfirmation
}
