package e2e

import "syscall"

// sandboxProcAttr makes the kernel SIGTERM e2esandbox if the test process
// dies, so that it closes the emulator and the extension with it.
func sandboxProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
