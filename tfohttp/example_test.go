package tfohttp_test

import (
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"

	"github.com/fastopen/tfo"
	"github.com/fastopen/tfo/tfohttp"
)

// A server that answers 425 Too Early (RFC 8470) to a request that arrived in a SYN and
// must not run twice. A client that gets it sends the request again after the
// handshake; tfo's Dialer does not put such a request in the SYN by default.
func Example() {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if tfohttp.Early(r) && r.Method != "GET" && r.Method != "HEAD" && r.Header.Get("Idempotency-Key") == "" {
			w.WriteHeader(http.StatusTooEarly)
			return
		}
		io.WriteString(w, "hello\n")
	})
	ln, err := tfo.Listen("tcp", ":8080")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{
		Handler:     tfohttp.Handler(mux),
		ConnContext: tfohttp.ConnContext,
	}
	log.Fatal(srv.Serve(ln))
}

// A reverse proxy that marks a request that arrived in a SYN with Early-Data: 1, so
// that the server behind it can answer 425 Too Early (RFC 8470, section 5.1).
func Example_proxy() {
	backend, err := url.Parse("http://10.0.0.2:8080")
	if err != nil {
		log.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(backend)
		if tfohttp.Early(pr.In) {
			pr.Out.Header.Set("Early-Data", "1")
		}
	}}
	ln, err := tfo.Listen("tcp", ":8080")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{
		Handler:     tfohttp.Handler(proxy),
		ConnContext: tfohttp.ConnContext,
	}
	log.Fatal(srv.Serve(ln))
}
