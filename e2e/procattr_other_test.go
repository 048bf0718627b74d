//go:build !linux

package e2e

import "syscall"

// sandboxProcAttr: without Pdeathsig, end of stdin (the test process's
// exit closes the pipe) still makes e2esandbox close the emulator.
func sandboxProcAttr() *syscall.SysProcAttr { return nil }
