package tls

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// probeStorage proves that dir can hold certificates before anything depends on it: it
// creates the directory (0700), writes a probe file (0600), reads it back and deletes it.
// certmagic checks its storage only right before an issuance, which for a renewal is
// weeks after a misconfigured volume was mounted; this check runs at startup instead, and
// each failure names the path and the step.
func probeStorage(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("certificate storage %s is not usable: cannot create the directory: %w", dir, err)
	}
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	want := []byte("wharf storage probe " + hex.EncodeToString(nonce[:]) + "\n")
	probe := filepath.Join(dir, ".wharf-probe-"+hex.EncodeToString(nonce[:4]))
	if err := writeFileSync(probe, want); err != nil {
		return fmt.Errorf("certificate storage %s is not writable: %w", dir, err)
	}
	got, err := os.ReadFile(probe)
	if err != nil {
		_ = os.Remove(probe)
		return fmt.Errorf("certificate storage %s is not readable: %w", dir, err)
	}
	if !bytes.Equal(got, want) {
		_ = os.Remove(probe)
		return fmt.Errorf("certificate storage %s is not usable: %s read back different content than was written", dir, probe)
	}
	if err := os.Remove(probe); err != nil {
		return fmt.Errorf("certificate storage %s does not allow deleting files: %w", dir, err)
	}
	return nil
}

// writeFileSync creates name exclusively (0600), writes b and syncs, so that a full disk
// shows up here rather than on the first certificate write.
func writeFileSync(name string, b []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.Write(b)
	serr := f.Sync()
	cerr := f.Close()
	for _, e := range []error{werr, serr, cerr} {
		if e != nil {
			_ = os.Remove(name)
			return e
		}
	}
	return nil
}
