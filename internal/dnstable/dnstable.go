// Package dnstable answers DNS queries from a table in memory, through a net.Resolver
// whose queries never leave the process, so that programs can dial names with several
// addresses, in an order of their choosing, on any machine.
package dnstable

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"

	"golang.org/x/net/dns/dnsmessage"
)

// A Server answers A and AAAA queries for the names of its table with their addresses,
// and others with a name error.
type Server struct {
	table map[string][]netip.Addr
	wg    sync.WaitGroup
}

// New returns a server for table, which maps names, without the final dot, to their
// addresses. The table must not change while the server runs.
func New(table map[string][]netip.Addr) *Server {
	return &Server{table: table}
}

// Resolver returns a resolver that asks s alone, over in-memory connections. Go's
// resolver sorts a name's addresses as RFC 6724 says, by the local addresses that can
// reach them, so the order of the table holds only among equals.
func (s *Server) Resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			client, server := net.Pipe()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer server.Close()
				s.serve(server)
			}()
			return client, nil
		},
	}
}

// Close waits for the exchanges under way to end, which they do when the resolver that
// began them closes its connection.
func (s *Server) Close() { s.wg.Wait() }

// serve answers length-prefixed DNS queries on c, as over TCP (RFC 1035, section
// 4.2.2), until c closes. The Go resolver speaks so over any connection its Dial
// returns that is not a net.PacketConn.
func (s *Server) serve(c net.Conn) {
	for {
		var n uint16
		if binary.Read(c, binary.BigEndian, &n) != nil {
			return
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(c, msg); err != nil {
			return
		}
		out, err := s.answer(msg)
		if err != nil {
			return
		}
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// answer returns the reply to the query msg, prefixed by its length.
func (s *Server) answer(msg []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	addrs, found := s.table[strings.TrimSuffix(q.Name.String(), ".")]
	h.Response, h.Authoritative = true, true
	if !found {
		h.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(make([]byte, 2, 512), h)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
	for _, a := range addrs {
		switch {
		case q.Type == dnsmessage.TypeA && a.Is4():
			err = b.AResource(rh, dnsmessage.AResource{A: a.As4()})
		case q.Type == dnsmessage.TypeAAAA && a.Is6() && !a.Is4In6():
			err = b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: a.As16()})
		}
		if err != nil {
			return nil, err
		}
	}
	out, err := b.Finish()
	if err != nil {
		return nil, err
	}
	binary.BigEndian.PutUint16(out, uint16(len(out)-2))
	return out, nil
}
