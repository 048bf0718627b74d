//go:build race

package main

// The race detector makes sync.Pool drop a share of what is put back, on
// purpose, so tests of pooled allocation are meaningless under it.
func init() { raceEnabled = true }
