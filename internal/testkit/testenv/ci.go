package testenv

import "os"

// InCI reports whether the tests run under CI=true, where a missing test
// dependency (a binary, a server) must fail the test rather than skip it.
func InCI() bool { return os.Getenv("CI") == "true" }
