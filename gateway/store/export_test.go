package store

// MachineByKey is the query behind Store.Machine, for its query plan test.
var MachineByKey = machineByKey

// WriterPragma reads a pragma on the SQLite writer's connection.
func WriterPragma(s *Store, name string) (string, error) {
	var v string
	err := s.db.QueryRow("PRAGMA " + name).Scan(&v)
	return v, err
}
