package tfo_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"time"

	"github.com/fastopen/tfo"
)

func ExampleSetKeys() {
	// Every server of the fleet holds the same secret, from a file or a secret store
	// that the deployment provides. Here, a fixed one.
	secret := []byte("32 random bytes that the fleet shares")
	const period = 24 * time.Hour

	lc := tfo.ListenConfig{Keys: tfo.DeriveKeys(secret, period, time.Now())}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()

	// Take each period's keys within a minute of its start. The key they replace stays
	// as the backup, so the cookies that clients hold stay valid. Where the system's
	// key serves every listener (macOS, FreeBSD, Windows), SetKeys returns an error
	// matching errors.ErrUnsupported, and Listen ignored Keys.
	ticker := time.NewTicker(time.Minute)
	stop := make(chan struct{})
	rotated := make(chan struct{})
	go func() {
		defer close(rotated)
		for {
			select {
			case now := <-ticker.C:
				err := tfo.SetKeys(ln, tfo.DeriveKeys(secret, period, now)...)
				if err != nil && !errors.Is(err, errors.ErrUnsupported) {
					log.Print(err)
				}
			case <-stop:
				return
			}
		}
	}()
	defer func() {
		ticker.Stop()
		close(stop)
		<-rotated
	}()

	served := serveOnce(ln, "hello, ")
	c, err := tfo.Dial("tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "fleet\n"); err != nil {
		log.Fatal(err)
	}
	reply, err := io.ReadAll(c)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(reply))
	<-served
	// Output: hello, fleet
}

func ExampleDeriveKeys() {
	// The keys of 2026-01-01 00:30 UTC for keys that change every hour: that hour's,
	// then the one before. Any program that follows DeriveKeys's documented
	// derivation gets the same.
	secret := []byte("example fleet secret")
	keys := tfo.DeriveKeys(secret, time.Hour, time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC))
	for _, k := range keys {
		fmt.Printf("%x\n", k)
	}
	// Output:
	// 5ccc044eb954c03b2b4afb29c55e93c0
	// a1e972b4d76d5833899b3c2ffc22d02c
}
