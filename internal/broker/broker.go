package broker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// allowAll lets every client connect and use every topic. It stands in for
// mochi's hooks/auth.AllowHook, whose package pulls in a YAML parser the
// module does not otherwise need.
type allowAll struct{ mqtt.HookBase }

func (*allowAll) ID() string { return "allow-all" }

func (*allowAll) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (*allowAll) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (*allowAll) OnACLCheck(*mqtt.Client, string, bool) bool { return true }

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves MQTT
// 3.1.1 and 5 to anyone. It returns the broker's tcp:// URL with the port
// actually bound, and stop, which closes the broker and every connection
// (a second call does nothing). logger may be nil.
func Start(ctx context.Context, addr string, logger *slog.Logger) (url string, stop func() error, err error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := mqtt.New(&mqtt.Options{Logger: logger.With("component", "broker")})
	if err := s.AddHook(new(allowAll), nil); err != nil {
		return "", nil, fmt.Errorf("broker: auth hook: %w", err)
	}
	l := listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr})
	if err := s.AddListener(l); err != nil {
		return "", nil, fmt.Errorf("broker: listen on %s: %w", addr, err)
	}
	if err := s.Serve(); err != nil {
		_ = s.Close()
		return "", nil, fmt.Errorf("broker: serve: %w", err)
	}

	var once sync.Once
	done := make(chan struct{})
	stop = func() error {
		var err error
		once.Do(func() {
			close(done)
			if cerr := s.Close(); cerr != nil {
				err = fmt.Errorf("broker: close: %w", cerr)
			}
		})
		return err
	}
	go func() {
		select {
		case <-ctx.Done():
			_ = stop()
		case <-done:
		}
	}()
	return "tcp://" + l.Address(), stop, nil
}
