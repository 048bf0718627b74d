// Command register is the cold-start floor: the least a Go Lambda extension
// can do. It registers for INVOKE and SHUTDOWN with the Extensions API at
// AWS_LAMBDA_RUNTIME_API, loops on event/next, and exits 0 on SHUTDOWN.
// Comparing the extension's init time and size with this program's shows
// what the extension's own work costs on top of the unavoidable.
//
// Build it as the extension is built:
//
//	CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' ./tools/floor/register
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "register: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	api := os.Getenv("AWS_LAMBDA_RUNTIME_API")
	if api == "" {
		return fmt.Errorf("AWS_LAMBDA_RUNTIME_API is not set")
	}
	base := "http://" + api + "/2020-01-01/extension"
	// event/next is a long poll that must not time out, so no Timeout here.
	client := &http.Client{Transport: &http.Transport{}}

	req, err := http.NewRequest(http.MethodPost, base+"/register", strings.NewReader(`{"events":["INVOKE","SHUTDOWN"]}`))
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	// Lambda registers an extension as external only when the name is its
	// file name under /opt/extensions.
	req.Header.Set("Lambda-Extension-Name", filepath.Base(os.Args[0]))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("register: status %s", resp.Status)
	}
	id := resp.Header.Get("Lambda-Extension-Identifier")

	for {
		req, err := http.NewRequest(http.MethodGet, base+"/event/next", nil)
		if err != nil {
			return fmt.Errorf("event/next: %w", err)
		}
		req.Header.Set("Lambda-Extension-Identifier", id)
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("event/next: %w", err)
		}
		var ev struct {
			EventType string `json:"eventType"`
		}
		// An event is a few hundred bytes; 1 MiB bounds a broken API.
		err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&ev)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("event/next: status %s", resp.Status)
		}
		if err != nil {
			return fmt.Errorf("event/next: decode: %w", err)
		}
		if ev.EventType == "SHUTDOWN" {
			return nil
		}
	}
}
