package drsapi

// BagFillStatus reports a bag's fill level (POST /bag-fill-status).
type BagFillStatus struct {
	RvmID            string  `json:"rvmId"`
	BinID            string  `json:"binId,omitempty"`
	WasteType        []int   `json:"wasteType"`
	RvmBlocked       bool    `json:"rvmBlocked"`
	FillLevelPercent float64 `json:"fillLevelPercent"`
	ReportedAt       string  `json:"reportedAt"`
}

// BagReplacement reports a full bag taken out and sealed
// (POST /bag-replacement). BagWeight is in kilograms.
type BagReplacement struct {
	BagID                  string          `json:"bagId"`
	RvmID                  string          `json:"rvmId"`
	BinNo                  int             `json:"binNo,omitempty"`
	SealNumber             string          `json:"sealNumber,omitempty"`
	LockingPersonID        string          `json:"lockingPersonId,omitempty"`
	ReplacementDate        string          `json:"replacementDate"`
	BagWeight              float64         `json:"bagWeight"`
	ContainerAmount        int             `json:"containerAmount"`
	RelatedTransactionsIDs []string        `json:"relatedTransactionsIds"`
	Containers             []ContainerFull `json:"containers"`
}

// BagSeal reports a seal put on a bag (POST /bag-seal), also when a damaged
// seal is replaced by a new one.
type BagSeal struct {
	LockingPersonID string `json:"lockingPersonId,omitempty"`
	SealNumber      string `json:"sealNumber"`
	BagID           string `json:"bagId"`
	SealTime        string `json:"sealTime"`
}

// Waste types (WasteTypeEnum).
const (
	WasteGlass     = 1
	WasteSteel     = 2
	WasteAluminium = 3
	WastePET       = 7
	WasteHDPE      = 8
	WasteOther     = 99
)
