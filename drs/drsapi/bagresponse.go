package drsapi

// BagFillStatusResponse is the operator's answer to POST /bag-fill-status:
// the event echoed back with the EventID the operator gave it.
type BagFillStatusResponse struct {
	RvmID            string  `json:"rvmId,omitempty"`
	EventID          string  `json:"eventId,omitempty"`
	BinID            string  `json:"binId,omitempty"`
	WasteType        []int   `json:"wasteType,omitempty"`
	RvmBlocked       bool    `json:"rvmBlocked"`
	FillLevelPercent float64 `json:"fillLevelPercent"`
	ReportedAt       string  `json:"reportedAt,omitempty"`
}
