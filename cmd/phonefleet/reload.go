package main

import (
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Reload reads the TLS certificate and key files again (after a renewal)
// and serves them from the next handshake on; connections already open and
// requests in flight are not touched. On an error, the old certificate
// stays and the error is returned (and logged). Without TLS it does
// nothing. serve calls it on SIGHUP.
func (m *Main) Reload() error {
	if m.KeyPair == nil {
		m.Logger.Info("reload: nothing to reload (no --tls-cert)")
		return nil
	}
	if err := m.KeyPair.Reload(); err != nil {
		m.Logger.Error("reload: keeping the current TLS certificate", "err", err)
		return err
	}
	leaf := m.KeyPair.Leaf()
	m.Logger.Info("reload: serving the TLS certificate", "tls_cert", m.KeyPair.CertFile,
		"serial", leaf.SerialNumber.String(), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

// catchSIGHUP starts catching SIGHUP, before serve starts, so that a
// SIGHUP during start-up does not end the process (SIGHUP's default); it is
// then handled once serve runs (reloadOn). SIGHUP never ends serve, with TLS
// or without, so "systemctl reload" is always safe.
func catchSIGHUP() chan os.Signal {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return hup
}

// reloadOn calls Reload on every signal of hup until the returned function
// is called, which also stops catching them.
func (m *Main) reloadOn(hup chan os.Signal) (stop func()) {
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				m.Reload() // logs its outcome
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
	}
}
