package storetest

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// echoServer answers every packet it receives with the packet itself.
func echoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func packet(command byte, text string) []byte {
	n := len(text) + 1
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), 0, command}, text...)
}

func TestRelay(t *testing.T) {
	relay := NewRelay(t, echoServer(t))
	tests := []struct {
		armed    bool
		command  byte
		text     string
		answered bool
	}{
		{false, 0x03, "COMMIT", true},
		{true, 0x03, "SELECT 1", true},
		{true, 0x16, "COMMIT", true}, // a prepared statement, not a query
		{true, 0x03, "commit ", false},
		{false, 0x03, "SELECT 1", false}, // the connection stays lost
	}
	c, err := net.Dial("tcp", relay.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	in := bufio.NewReader(c)
	for _, tt := range tests {
		relay.DropCommitReplies(tt.armed)
		p := packet(tt.command, tt.text)
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		got := make([]byte, len(p))
		_, err := io.ReadFull(in, got)
		if answered := err == nil && string(got) == string(p); answered != tt.answered {
			t.Fatalf("armed %v, %#x %q: answered %v (%v)", tt.armed, tt.command, tt.text, answered, err)
		}
		if !tt.answered && !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the connection was not kept open: %v", err)
		}
	}
}
