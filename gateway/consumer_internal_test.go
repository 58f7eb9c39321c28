package gateway

import (
	"fmt"
	"testing"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// message is an MQTT message with only a payload.
type message struct {
	mqtt.Message
	payload []byte
}

func (m message) Payload() []byte { return m.payload }

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
