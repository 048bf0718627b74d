// Command nethttp is the size floor: a program that links net/http with TLS,
// both the HTTPS client and the server, as the extension must, and nothing
// else. Its stripped size is the baseline the extension's size is compared
// with. Without arguments it does nothing at run time.
//
//	nethttp get https://example.com/   GET a URL and print the status
//	nethttp serve 127.0.0.1:4318       serve 204 on every path
//
// Build it as the extension is built:
//
//	CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' ./tools/floor/nethttp
package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
)

func main() {
	if len(os.Args) < 3 {
		return
	}
	switch os.Args[1] {
	case "get":
		client := &http.Client{Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{MinVersion: tls.VersionTLS12},
			ForceAttemptHTTP2: true,
		}}
		resp, err := client.Get(os.Args[2])
		if err != nil {
			fmt.Fprintf(os.Stderr, "nethttp: get: %v\n", err)
			os.Exit(1)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Println(resp.Status)
	case "serve":
		srv := &http.Server{Addr: os.Args[2], Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNoContent)
		})}
		if err := srv.ListenAndServe(); err != nil {
			fmt.Fprintf(os.Stderr, "nethttp: serve: %v\n", err)
			os.Exit(1)
		}
	default:
		fmt.Fprintf(os.Stderr, "nethttp: unknown command %q; want get or serve\n", os.Args[1])
		os.Exit(2)
	}
}
