package drsapi

// BinPost is one bin of a machine (models/BinPost.yaml). Litrage is the
// bag's capacity in litres.
type BinPost struct {
	WasteType []int `json:"wasteType,omitempty"`
	Litrage   int   `json:"litrage,omitempty"`
}

// PostMachine is the machine base the operator's registration bodies share
// (models/PostMachine.yaml, models/MachineBase.yaml). SerialNumber and Bins
// are required.
type PostMachine struct {
	SerialNumber string    `json:"serialNumber"`
	Name         string    `json:"name,omitempty"`
	Bins         []BinPost `json:"bins"`
}

// MachineUpdate registers or updates a machine (POST /machine). When ID is
// empty the operator generates one and returns it as [MachineID]; that id is
// the rvmId of every later call. DrsCpNo, the collection point number
// ("1100061-152"), is required.
type MachineUpdate struct {
	ID           string    `json:"id,omitempty"`
	SerialNumber string    `json:"serialNumber"`
	Name         string    `json:"name,omitempty"`
	Bins         []BinPost `json:"bins"`
	Model        string    `json:"model,omitempty"`
	Manufacturer string    `json:"manufacturer,omitempty"`
	DrsCpNo      string    `json:"drsCpNo"`
}

// MachineID is the answer to POST /machine. The operator leaves ID out when
// the request carried one.
type MachineID struct {
	ID string `json:"id,omitempty"`
}
