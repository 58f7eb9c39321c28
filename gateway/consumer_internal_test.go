package gateway

import (
	"fmt"
	"testing"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// message is an MQTT message with only a payload and a packet id.
type message struct {
	mqtt.Message
	payload []byte
	id      uint16
}

func (m message) Payload() []byte   { return m.payload }
func (m message) MessageID() uint16 { return m.id }

// A batch is acknowledged in the order the broker sent it, which numbers a
// session's messages 1 to 65535 and then from 1 again.
func TestInReceiptOrder(t *testing.T) {
	tests := []struct {
		ids, want []uint16
	}{
		{nil, nil},
		{[]uint16{7}, []uint16{7}},
		{[]uint16{3, 1, 2}, []uint16{1, 2, 3}},
		{[]uint16{40000, 10, 65535, 1, 65000}, []uint16{40000, 65000, 65535, 1, 10}}, // wrapped round
		{[]uint16{2, 65534, 1, 65535}, []uint16{65534, 65535, 1, 2}},
		{[]uint16{100, 30000, 200, 29000}, []uint16{100, 200, 29000, 30000}}, // the widest gap is the wrap's
		{[]uint16{100, 40100, 200, 40000}, []uint16{40000, 40100, 100, 200}}, // the widest is inside: wrapped
		{[]uint16{5, 5, 4}, []uint16{4, 5, 5}},                               // a redelivery's id again
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.ids), func(t *testing.T) {
			msgs := make([]mqtt.Message, 0, len(tt.ids))
			for _, id := range tt.ids {
				msgs = append(msgs, message{id: id})
			}
			var got []uint16
			for _, m := range inReceiptOrder(msgs) {
				got = append(got, m.MessageID())
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("inReceiptOrder(%v) = %v; want %v", tt.ids, got, tt.want)
			}
		})
	}
}

// A batch takes what waits, up to maxEvents messages or until its payloads
// reach maxBytes, and never waits for more.
func TestTakeBatch(t *testing.T) {
	tests := []struct {
		sizes               []int // payloads waiting, in order
		maxEvents, maxBytes int
		want                []int // the batches' lengths, until nothing waits
	}{
		{[]int{10, 10, 10}, 16, 1 << 20, []int{3}},
		{[]int{10, 10, 10, 10, 10}, 2, 1 << 20, []int{2, 2, 1}},
		{[]int{10, 10, 10, 10}, 16, 25, []int{3, 1}},       // the third crosses 25 bytes
		{[]int{30, 10, 10}, 16, 25, []int{1, 2}},           // a first message over the bound goes alone
		{[]int{10, 15, 10, 10, 10}, 16, 25, []int{2, 3}},   // 25 reached exactly
		{[]int{1, 1, 1, 1, 1, 1}, 4, 1 << 20, []int{4, 2}}, // events bound first
		{[]int{100, 100, 100, 100}, 3, 250, []int{3, 1}},   // bytes and events
		{[]int{0, 0, 0}, 16, 25, []int{3}},                 // empty payloads count as messages
		{[]int{5}, 16, 25, []int{1}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.sizes, tt.maxEvents, tt.maxBytes), func(t *testing.T) {
			in := make(chan mqtt.Message, len(tt.sizes))
			for _, n := range tt.sizes {
				in <- message{payload: make([]byte, n)}
			}
			var got []int
			for len(in) > 0 {
				b := takeBatch([]mqtt.Message{<-in}, in, tt.maxEvents, tt.maxBytes)
				got = append(got, len(b))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("batches = %v; want %v", got, tt.want)
			}
		})
	}
}
