package tfo

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// Conn is a TCP connection that may not have connected yet. It has every method of
// [*net.TCPConn]; the first Write performs a connect that Dial deferred.
//
// After the connect, every method acts on the underlying [*net.TCPConn].
type Conn struct {
	state atomic.Uint32 // stateConnected once tc is final; read without p.mu
	tc    *net.TCPConn  // guarded by p.mu until state is stateConnected
	p     *pending      // nil for a conn that connected during the dial without fast open

	// watch is true until the conn's first Write or first byte read: a byte read
	// before any Write means that the server speaks first.
	watch atomic.Bool

	result atomic.Uint32 // the conn's Outcome plus one, once known
}

const (
	statePending uint32 = iota
	stateConnected
	stateFailed // the deferred connect failed: p.err holds why
	stateClosed // closed before the connect completed
)

func (c *Conn) ok() bool { return c != nil && (c.p != nil || c.tc != nil) }

// connected reports whether c has completed its connect, so that c.tc is final.
func (c *Conn) connected() bool { return c.state.Load() == stateConnected }

// Read implements the [net.Conn] Read method. On a conn that has not connected yet, it
// waits up to [Dialer.ReadWait] for a Write, then connects without data.
func (c *Conn) Read(b []byte) (int, error) {
	if !c.ok() {
		return 0, syscall.EINVAL
	}
	var tc *net.TCPConn
	if c.connected() {
		tc = c.tc
	} else {
		if len(b) == 0 {
			return 0, c.stateErr("read")
		}
		var err error
		if tc, err = c.awaitSocket("read", true); err != nil {
			return 0, err
		}
	}
	n, err := tc.Read(b)
	if n > 0 && c.watch.Load() {
		c.spoke()
	}
	if err != nil {
		err = c.addrErr(err)
	}
	return n, err
}

// Write implements the [net.Conn] Write method. The first Write on a conn whose connect
// was deferred sends the SYN with as much of b as it carries, waits for the handshake,
// and writes the rest. If the write deadline passes first, the connect goes on with the
// bytes it took (up to 4 KiB), and Write reports them as written.
func (c *Conn) Write(b []byte) (int, error) {
	if !c.ok() {
		return 0, syscall.EINVAL
	}
	if c.watch.Load() {
		c.watch.Store(false)
	}
	if !c.connected() {
		return c.writePending(b)
	}
	n, err := c.tc.Write(b)
	if err != nil {
		err = c.addrErr(err)
	}
	return n, err
}

// stateErr returns the error for an operation on a conn that will not connect, or nil.
func (c *Conn) stateErr(op string) error {
	switch c.state.Load() {
	case stateFailed, stateClosed:
		_, err := c.settledSocket(op)
		return err
	}
	return nil
}

// Close closes the connection. Closing a conn that has not connected frees its socket
// and ends the connect; a Write or Read that waits for it returns an error matching
// [net.ErrClosed].
func (c *Conn) Close() error {
	if !c.ok() {
		return syscall.EINVAL
	}
	if c.connected() {
		return c.addrErr(c.tc.Close())
	}
	return c.closePending()
}

// LocalAddr returns the local network address. Before the connect it is the address the
// socket is bound to.
func (c *Conn) LocalAddr() net.Addr {
	if !c.ok() {
		return nil
	}
	if !c.connected() {
		la, _ := c.pendingAddrs()
		return la
	}
	return c.localAddrLocked()
}

// RemoteAddr returns the remote network address. Before the connect it is the address
// being dialed.
func (c *Conn) RemoteAddr() net.Addr {
	if !c.ok() {
		return nil
	}
	if !c.connected() {
		_, ra := c.pendingAddrs()
		return ra
	}
	return c.remoteAddrLocked()
}

// localAddrLocked returns the local address: tc's, unless the platform's connect set
// p.laddr. p.mu is held unless c has connected, after which neither changes.
func (c *Conn) localAddrLocked() net.Addr {
	if c.p != nil && c.p.laddr != nil {
		return c.p.laddr
	}
	return c.tc.LocalAddr()
}

// remoteAddrLocked returns the remote address: tc's, or where the socket connects only
// at the first write, the address it connects to. p.mu is held unless c has connected.
func (c *Conn) remoteAddrLocked() net.Addr {
	if a := c.tc.RemoteAddr(); a != nil || c.p == nil || c.p.raddr == nil {
		return a
	}
	return c.p.raddr
}

// SetDeadline implements the [net.Conn] SetDeadline method. Before the connect, a
// deadline bounds the calls that wait for it, not the connect itself.
func (c *Conn) SetDeadline(t time.Time) error { return c.setDeadline(t, true, true) }

// SetReadDeadline implements the [net.Conn] SetReadDeadline method.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.setDeadline(t, true, false) }

// SetWriteDeadline implements the [net.Conn] SetWriteDeadline method.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.setDeadline(t, false, true) }

func (c *Conn) setDeadline(t time.Time, read, write bool) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	if !c.connected() {
		return c.setPendingDeadline(t, read, write)
	}
	return setSocketDeadline(c.tc, t, read, write)
}

// setSocketDeadline sets the read deadline, the write deadline or both of tc to t.
func setSocketDeadline(tc *net.TCPConn, t time.Time, read, write bool) error {
	switch {
	case read && write:
		return tc.SetDeadline(t)
	case read:
		return tc.SetReadDeadline(t)
	}
	return tc.SetWriteDeadline(t)
}

// setOption applies a socket option. Before the connect, the option is also remembered
// for a socket that replaces the current one when another address is tried.
func (c *Conn) setOption(opt func(*net.TCPConn) error) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	if c.connected() {
		return opt(c.tc)
	}
	return c.setPendingOption(opt)
}

// SetKeepAlive is like [net.TCPConn.SetKeepAlive].
func (c *Conn) SetKeepAlive(keepalive bool) error {
	return c.setOption(func(tc *net.TCPConn) error { return tc.SetKeepAlive(keepalive) })
}

// SetKeepAlivePeriod is like [net.TCPConn.SetKeepAlivePeriod].
func (c *Conn) SetKeepAlivePeriod(d time.Duration) error {
	return c.setOption(func(tc *net.TCPConn) error { return tc.SetKeepAlivePeriod(d) })
}

// SetKeepAliveConfig is like [net.TCPConn.SetKeepAliveConfig].
func (c *Conn) SetKeepAliveConfig(config net.KeepAliveConfig) error {
	return c.setOption(func(tc *net.TCPConn) error { return tc.SetKeepAliveConfig(config) })
}

// SetLinger is like [net.TCPConn.SetLinger].
func (c *Conn) SetLinger(sec int) error {
	return c.setOption(func(tc *net.TCPConn) error { return tc.SetLinger(sec) })
}

// SetNoDelay is like [net.TCPConn.SetNoDelay].
func (c *Conn) SetNoDelay(noDelay bool) error {
	return c.setOption(func(tc *net.TCPConn) error { return tc.SetNoDelay(noDelay) })
}

// SetReadBuffer is like [net.TCPConn.SetReadBuffer].
func (c *Conn) SetReadBuffer(bytes int) error {
	return c.setOption(func(tc *net.TCPConn) error { return tc.SetReadBuffer(bytes) })
}

// SetWriteBuffer is like [net.TCPConn.SetWriteBuffer].
func (c *Conn) SetWriteBuffer(bytes int) error {
	return c.setOption(func(tc *net.TCPConn) error { return tc.SetWriteBuffer(bytes) })
}

// CloseRead is like [net.TCPConn.CloseRead]. On a conn that has not connected yet, it
// connects first, without data.
func (c *Conn) CloseRead() error {
	tc, err := c.connectNow()
	if err != nil {
		return err
	}
	return c.addrErr(tc.CloseRead())
}

// CloseWrite is like [net.TCPConn.CloseWrite]. On a conn that has not connected yet, it
// connects first, without data, so that the server sees the end of the stream.
func (c *Conn) CloseWrite() error {
	tc, err := c.connectNow()
	if err != nil {
		return err
	}
	return c.addrErr(tc.CloseWrite())
}

// connectNow completes a deferred connect without data, within the write deadline.
func (c *Conn) connectNow() (*net.TCPConn, error) {
	if !c.ok() {
		return nil, syscall.EINVAL
	}
	if c.connected() {
		return c.tc, nil
	}
	return c.awaitSocket("write", false)
}

// ReadFrom implements the [io.ReaderFrom] ReadFrom method. On a conn that has not
// connected yet, the first bytes read from r go out in the SYN; the rest goes through
// [net.TCPConn.ReadFrom], which uses splice or sendfile where it can. Before the conn's
// first Write, the first bytes go through Write.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	if !c.ok() {
		return 0, syscall.EINVAL
	}
	var n int64
	var tc *net.TCPConn
	if c.connected() && !c.watch.Load() {
		tc = c.tc
	} else {
		// The first bytes go through Write: in the SYN, or to tell that the client
		// spoke first.
		buf := make([]byte, firstChunk)
		for {
			m, err := r.Read(buf)
			if m > 0 {
				w, werr := c.Write(buf[:m])
				n = int64(w)
				if werr != nil {
					return n, werr
				}
				break
			}
			if err == io.EOF {
				return 0, nil
			}
			if err != nil {
				return 0, err
			}
		}
		var err error
		if tc, err = c.awaitSocket("write", false); err != nil {
			return n, err
		}
	}
	m, err := tc.ReadFrom(r)
	return n + m, c.addrErr(err)
}

// WriteTo implements the [io.WriterTo] WriteTo method. On a conn that has not connected
// yet, it first waits as Read does. Before the conn's first Write, it reads the first
// bytes itself, to learn whether the server speaks first, then hands the rest to
// [net.TCPConn.WriteTo], which uses splice where it can.
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	if !c.ok() {
		return 0, syscall.EINVAL
	}
	var n int64
	if c.watch.Load() {
		// Read the first bytes here, so that a server that speaks first is learnt.
		buf := make([]byte, firstChunk)
		m, err := c.Read(buf)
		if m > 0 {
			wm, werr := w.Write(buf[:m])
			n = int64(wm)
			if werr == nil && wm < m {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				return n, werr
			}
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
	var tc *net.TCPConn
	if c.connected() {
		tc = c.tc
	} else {
		var err error
		if tc, err = c.awaitSocket("read", true); err != nil {
			return n, err
		}
	}
	m, err := tc.WriteTo(w)
	return n + m, c.addrErr(err)
}

// SyscallConn is like [net.TCPConn.SyscallConn]. Before the connect it reaches the
// socket that the connect will use first; if that address fails and another is tried,
// the new socket takes its place.
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	if !c.ok() {
		return nil, syscall.EINVAL
	}
	if c.connected() {
		return c.tc.SyscallConn()
	}
	rc, err := c.sock().SyscallConn()
	if err != nil {
		return nil, err
	}
	return rawConn{rc}, nil
}

// rawConn hides the poller of a socket that has not connected. Package os's zero-copy
// paths (File.WriteTo, File.ReadFrom) find it through SyscallConn and would move data
// on the socket directly, around the deferred connect; without it they fall back to
// Conn's own ReadFrom and Read.
type rawConn struct{ rc syscall.RawConn }

func (r rawConn) Control(f func(fd uintptr)) error           { return r.rc.Control(f) }
func (r rawConn) Read(f func(fd uintptr) (done bool)) error  { return r.rc.Read(f) }
func (r rawConn) Write(f func(fd uintptr) (done bool)) error { return r.rc.Write(f) }

// File is like [net.TCPConn.File], with the same caveat as [Conn.SyscallConn] before the
// connect.
func (c *Conn) File() (*os.File, error) {
	if !c.ok() {
		return nil, syscall.EINVAL
	}
	return c.sock().File()
}

// MultipathTCP is like [net.TCPConn.MultipathTCP].
func (c *Conn) MultipathTCP() (bool, error) {
	if !c.ok() {
		return false, syscall.EINVAL
	}
	return c.sock().MultipathTCP()
}

// FastOpened reports whether c was fast-opened. On a dialed connection it means that
// the server acknowledged data carried in the SYN; on an accepted connection, that the
// SYN carried data accepted through fast open. c may be a [*Conn], a [*net.TCPConn], or
// a connection that wraps one of them and has a NetConn method, such as a
// [*crypto/tls.Conn]. A [*Conn] that has not connected yet was not fast-opened.
//
// On platforms that cannot tell, the error matches [errors.ErrUnsupported].
func FastOpened(c net.Conn) (bool, error) {
	c = unwrap(c)
	if t, ok := c.(*Conn); ok {
		if !t.ok() {
			return false, syscall.EINVAL
		}
		tc := t.establishedSocket()
		if tc == nil {
			return false, nil
		}
		c = tc
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false, fmt.Errorf("tfo: FastOpened: %T is not a TCP connection", c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false, err
	}
	return fastOpened(rc)
}

// unwrap returns the connection that c wraps, following NetConn methods such as
// [*crypto/tls.Conn]'s, or c itself.
func unwrap(c net.Conn) net.Conn {
	for {
		w, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return c
		}
		c = w.NetConn()
	}
}

var _ interface {
	net.Conn
	io.ReaderFrom
	io.WriterTo
	syscall.Conn
} = (*Conn)(nil)
