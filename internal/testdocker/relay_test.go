package testdocker

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// TestRelayCutAndResume runs the relay in front of a line-echo server posing as the engine.
func TestRelayCutAndResume(t *testing.T) {
	dir, err := os.MkdirTemp("", "wharf-relay-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	target := filepath.Join(dir, "engine.sock")
	ln, err := net.Listen("unix", target)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					c.Write(append(sc.Bytes(), '\n'))
				}
			}()
		}
	}()
	t.Setenv("DOCKER_HOST", "unix://"+target)
	r := StartRelay(t)

	c := dialRelay(t, r)
	roundTrip(t, c, "hello")
	r.Cut()
	if _, err := bufio.NewReader(c).ReadString('\n'); err == nil {
		t.Fatal("a relayed connection survived the cut")
	}
	if _, err := net.Dial("unix", r.Endpoint()[len("unix://"):]); err == nil {
		t.Fatal("the relay accepted a connection while cut")
	}
	if err := r.Resume(); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, dialRelay(t, r), "again")
}

func dialRelay(t *testing.T, r *Relay) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", r.Endpoint()[len("unix://"):])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg + "\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != msg+"\n" {
		t.Fatalf("read %q, %v; want %q", line, err, msg)
	}
}
