package e2eutil

import "syscall"

// sysProcAttr puts the child in its own process group (a Ctrl-C in the
// terminal reaches only us, and we stop the children) and kills it when the
// test or benchmark process dies without cleaning up (e.g. on a go test
// timeout).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
