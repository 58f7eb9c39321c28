// Package testbroker starts a real mosquitto broker for tests, on a free
// loopback port, and lets a test take it away and bring it back.
//
// A broker that vanishes and returns on the same port is the outage the
// machine lives through in the field; paho's reconnect logic and our outbox
// are only proven against that, not against a fake.
//
// # Usage
//
//	b := testbroker.Start(t,
//		testbroker.WithPasswords(map[string]string{"rvm-A1": "secret", "admin": "admin"}),
//		testbroker.WithACL("user admin\ntopic readwrite #\n"),
//	)
//	opts.Broker = b.URL() // tcp://127.0.0.1:PORT
//	b.Stop()              // SIGKILL: the broker is gone, mid-stream
//	b.Restart()           // same port, same config
//
// Start skips the test when mosquitto is not installed, unless the CI
// environment variable is "true": there the missing broker is a failure,
// so a green CI run always means the tests ran. The broker's log is printed
// when the test failed.
//
// With [WithPersistence] the broker keeps sessions and queued messages in
// its data directory across [Broker.Restart]; mosquitto writes that file on
// a clean shutdown (SIGTERM, see [WithStopSignal]) and every second while
// running, so a SIGKILL may lose the last second, as in the field.
//
// [WithTLS] generates a throw-away CA and a server certificate for
// 127.0.0.1; [Broker.CAFile] and [Broker.ClientCert] hand the client side
// its files.
//
// # Concurrency
//
// A Broker's methods may be called from any goroutine, one at a time.
package testbroker
