package storetest

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
)

// Relay forwards TCP connections to a MySQL server, both ways, and can
// lose the server's answer to a COMMIT, as a network can: armed with
// DropCommitReplies(true), it passes a COMMIT statement on to the server
// and then drops every byte the server sends back on that connection,
// which it keeps open. It reads the plain protocol (no TLS, no
// compression), which is what the test server speaks.
type Relay struct {
	t      testing.TB
	target string
	ln     net.Listener
	drop   atomic.Bool
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]bool
}

// NewRelay starts a relay to target ("host:port") on a free local port; it
// stops when the test ends.
func NewRelay(t testing.TB, target string) *Relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Relay{t: t, target: target, ln: ln, conns: map[net.Conn]bool{}}
	r.wg.Add(1)
	go r.serve()
	t.Cleanup(r.close)
	return r
}

// Addr is the relay's address, "127.0.0.1:port".
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// DSN returns dsn, a mysql:// URL, with the relay's address as its host.
func (r *Relay) DSN(dsn string) string {
	r.t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		r.t.Fatal("storetest: the DSN is not a URL")
	}
	u.Host = r.Addr()
	return u.String()
}

// DropCommitReplies arms or disarms the relay. Armed, it loses everything
// the server sends on a connection after that connection's next COMMIT;
// a connection it did that to stays that way.
func (r *Relay) DropCommitReplies(drop bool) { r.drop.Store(drop) }

func (r *Relay) serve() {
	defer r.wg.Done()
	for {
		client, err := r.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", r.target)
		if err != nil {
			client.Close()
			continue
		}
		if !r.track(client, server) {
			return
		}
		var lost atomic.Bool
		r.wg.Add(2)
		go func() {
			defer r.wg.Done()
			defer r.hangUp(client, server)
			r.toServer(client, server, &lost)
		}()
		go func() {
			defer r.wg.Done()
			defer r.hangUp(client, server)
			buf := make([]byte, 32<<10)
			for {
				n, err := server.Read(buf)
				if n > 0 && !lost.Load() {
					if _, err := client.Write(buf[:n]); err != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// toServer copies the client's packets to the server one by one (3-byte
// little-endian length, sequence number, payload) and sets lost before
// passing on a COMMIT while the relay is armed, so that no part of the
// answer can get through.
func (r *Relay) toServer(client, server net.Conn, lost *atomic.Bool) {
	in := bufio.NewReader(client)
	var header [4]byte
	for {
		if _, err := io.ReadFull(in, header[:]); err != nil {
			return
		}
		payload := make([]byte, int(header[0])|int(header[1])<<8|int(header[2])<<16)
		if _, err := io.ReadFull(in, payload); err != nil {
			return
		}
		if r.drop.Load() && isCommit(payload) {
			lost.Store(true)
		}
		if _, err := server.Write(append(header[:], payload...)); err != nil {
			return
		}
	}
}

// isCommit reports a COM_QUERY (0x03) whose text is COMMIT.
func isCommit(payload []byte) bool {
	return len(payload) > 0 && payload[0] == 0x03 && bytes.EqualFold(bytes.TrimSpace(payload[1:]), []byte("COMMIT"))
}

// track records a connection pair so that close can end it; it reports
// false, closing them, once the relay is closed.
func (r *Relay) track(client, server net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns == nil {
		client.Close()
		server.Close()
		return false
	}
	r.conns[client], r.conns[server] = true, true
	return true
}

// hangUp closes both ends of a pair, once either side is done.
func (r *Relay) hangUp(client, server net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	client.Close()
	server.Close()
	delete(r.conns, client)
	delete(r.conns, server)
}

func (r *Relay) close() {
	r.ln.Close()
	r.mu.Lock()
	for c := range r.conns {
		c.Close()
	}
	r.conns = nil
	r.mu.Unlock()
	r.wg.Wait()
}
