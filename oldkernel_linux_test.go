package tfo

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Environment variables of a child run of the test binary (see runChild).
const (
	childServerEnv = "TFO_TEST_CHILD_SERVER" // the address of the server to dial
	childModeEnv   = "TFO_TEST_CHILD_MODE"   // what the child does: "dials" or "epipe"
)

// childDials is how many dials the child makes in mode "dials".
const childDials = 20

// serverDelay is how long the server of the child's dials waits before it answers, so
// that a client that spins instead of waiting shows in its CPU time.
const serverDelay = 10 * time.Millisecond

// TestOldKernel runs dials in a child process whose system calls are answered as an old
// kernel, or a dead socket, answers them: strace(1) makes setsockopt(2) fail with the
// errno of a kernel without TCP_FASTOPEN_CONNECT (ENOPROTOOPT), of a client side turned
// off (EOPNOTSUPP), or one the option never returns (EPIPE); a seccomp filter that the
// child installs makes the write(2) of the deferred connect fail with EPIPE.
//
// Every dial must work without fast open, the option must be tried once for ENOPROTOOPT,
// which is remembered for good, and at each dial for the others, which may change, the
// failed write
// must be reported once as net reports a failed connect, and no call may spin: the
// child's CPU time, strace's included, stays a small part of the time it runs, most of
// which it spends waiting for the server.
func TestOldKernel(t *testing.T) {
	verifyNone(t)
	requireWire(t)
	strace, err := exec.LookPath("strace")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("strace(1) is needed:", err)
		}
		t.Skip("no strace(1):", err)
	}
	s := newServer(t, func(c *net.TCPConn) {
		time.Sleep(serverDelay)
		answer(c)
	})
	// The child's dials find the cookie that this one fetches: cookies are kept per
	// network namespace.
	warm, err := Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	checkAnswer(t, warm, "warm")
	warm.Close()

	for _, tt := range []struct {
		name   string
		mode   string
		strace []string // how strace traces, and what it injects
		// The system calls that strace must log, and how many times.
		pattern string
		count   int
		output  string // what the child prints
	}{
		{
			name:    "setsockopt ENOPROTOOPT",
			mode:    "dials",
			strace:  []string{"--seccomp-bpf", "-e", "trace=setsockopt", "-e", "inject=setsockopt:error=ENOPROTOOPT"},
			pattern: `TCP_FASTOPEN_CONNECT, \[1\], 4\) = -1 ENOPROTOOPT`,
			count:   1,
			output:  "refusals: 1\nrefused for good: true",
		},
		{
			name:    "setsockopt EOPNOTSUPP",
			mode:    "dials",
			strace:  []string{"--seccomp-bpf", "-e", "trace=setsockopt", "-e", "inject=setsockopt:error=EOPNOTSUPP"},
			pattern: `TCP_FASTOPEN_CONNECT, \[1\], 4\) = -1 EOPNOTSUPP`,
			count:   childDials,
			output:  fmt.Sprintf("refusals: %d\nrefused for good: false", childDials),
		},
		{
			name:    "setsockopt EPIPE",
			mode:    "dials",
			strace:  []string{"--seccomp-bpf", "-e", "trace=setsockopt", "-e", "inject=setsockopt:error=EPIPE"},
			pattern: `TCP_FASTOPEN_CONNECT, \[1\], 4\) = -1 EPIPE`,
			count:   childDials,
			output:  fmt.Sprintf("refusals: %d\nrefused for good: false", childDials),
		},
		{
			name: "write EPIPE",
			mode: "epipe",
			// Without --seccomp-bpf, strace sees the call before the child's filter
			// fails it.
			strace:  []string{"-y", "-e", "trace=write"},
			pattern: `write\(\d+<socket:\[\d+\]>, "ping", 4\) = -1 EPIPE`,
			count:   1,
			output:  "dial tcp " + s.addr + ": connect: broken pipe",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeaks(t)
			log := filepath.Join(t.TempDir(), "strace")
			args := append([]string{"-f", "-qq", "-o", log}, tt.strace...)
			out, wall, cpu := runChild(t, s.addr, tt.mode, strace, args...)
			if !strings.Contains(out, tt.output) {
				t.Errorf("the child's output lacks %q:\n%s", tt.output, out)
			}
			b, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			re := regexp.MustCompile(tt.pattern)
			var n int
			for line := range bytes.Lines(b) {
				if re.Match(line) {
					n++
				}
			}
			if n != tt.count {
				t.Errorf("strace logged %d calls matching %q; want %d:\n%s", n, tt.pattern, tt.count, b)
			}
			t.Logf("child: %v of CPU in %v", cpu, wall)
			// The busy loops seen in the wild spin until a deadline or for ever, and
			// take a whole core for the time they run. The child that dials spends
			// most of its time waiting for the server; the other one does not wait,
			// and a loop would keep it from ending.
			if tt.mode == "dials" && cpu > wall/2 {
				t.Errorf("the child used %v of CPU in %v", cpu, wall)
			}
		})
	}
}

// runChild runs the test binary as a child, under the command name with args before
// it, to do what TestOldKernelChild does in mode. It returns the child's output, how
// long it ran, and the CPU time it and the processes it waited for used.
func runChild(t *testing.T, addr, mode, name string, args ...string) (out string, wall, cpu time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := childTest(t, ctx, "TestOldKernelChild", append([]string{name}, args...), childServerEnv+"="+addr, childModeEnv+"="+mode)
	start := time.Now()
	b, err := cmd.CombinedOutput()
	wall = time.Since(start)
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, b)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return string(b), wall, cpu
}

// childTest returns a command that runs the test binary, with the test named test
// alone and env added to the environment, under the command prefix if there is one.
// The child inherits the private network namespace.
func childTest(t testing.TB, ctx context.Context, test string, prefix []string, env ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args := append(prefix[:len(prefix):len(prefix)], exe, "-test.run=^"+test+"$", "-test.count=1", "-test.v")
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// TestOldKernelChild is the part of TestOldKernel that runs in the child.
func TestOldKernelChild(t *testing.T) {
	addr := os.Getenv(childServerEnv)
	if addr == "" {
		t.Skip("run by TestOldKernel")
	}
	switch mode := os.Getenv(childModeEnv); mode {
	case "dials":
		start, cpu := time.Now(), cpuTime(t)
		for i := range childDials {
			c, err := Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			checkAnswer(t, c, fmt.Sprint("ping ", i))
			if ok, err := FastOpened(c); ok || err != nil {
				t.Errorf("FastOpened = %v, %v; want false", ok, err)
			}
			c.Close()
		}
		// Most of the dials' time is spent waiting for the server.
		if wall, cpu := time.Since(start), cpuTime(t)-cpu; cpu > wall/2 {
			t.Errorf("the dials used %v of CPU in %v", cpu, wall)
		}
		fmt.Printf("refusals: %d\nrefused for good: %v\n", clientRefusal.count.Load(), !clientRefusal.allowed())
	case "epipe":
		c := dialPending(t, &Dialer{}, addr)
		rc, err := c.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		rc.Control(func(fd uintptr) { failWrites(t, int(fd), syscall.EPIPE) })
		_, err = c.Write([]byte("ping"))
		checkDialError(t, err, syscall.EPIPE)
		_, err2 := c.Read(make([]byte, 1))
		if err2 != err {
			t.Errorf("Read after the failed connect: %v; want the connect's error", err2)
		}
		fmt.Println(err)
	default:
		t.Fatalf("unknown mode %q", mode)
	}
}

// cpuTime returns the CPU time the process has used.
func cpuTime(t testing.TB) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// failWrites installs a seccomp filter in the process (all its threads) that fails
// every write(2) to fd with errno. It cannot be undone, and fd's number may come back:
// only a child process may use it.
func failWrites(t testing.TB, fd int, errno syscall.Errno) {
	t.Helper()
	// struct seccomp_data (include/uapi/linux/seccomp.h): int nr; __u32 arch; __u64
	// instruction_pointer; __u64 args[6]. The low half of args[0] comes first on a
	// little-endian machine.
	argLow := uint32(16)
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		argLow += 4
	}
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 3, K: unix.SYS_WRITE},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: argLow},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: uint32(fd)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(errno)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		t.Fatal("PR_SET_NO_NEW_PRIVS:", err)
	}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&prog))); e != 0 {
		t.Fatal("seccomp:", e)
	}
}
