package store

// MachineByKey is the query behind Store.Machine, for its query plan test.
var MachineByKey = machineByKey
