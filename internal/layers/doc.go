// Package layers holds no code: its test lists every package's imports and
// fails on one that breaks the layering of docs/DESIGN.md (hal knows nothing
// of machine, fsm knows nothing of MQTT, the controller knows nothing of the
// cloud, and so on).
package layers
