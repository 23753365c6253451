//go:build tools

// Package tools pins the external tools the tests run, as Go modules of
// their own: faas-cli and the OpenFaaS CE gateway. Neither is listed by the
// module proxy, so `go install pkg@version` refuses them; an exact
// pseudo-version required here works. scripts/test-peers/openfaas.sh builds
// them once into ~/.cache/caliopen-tools, keyed by these versions.
//
// To move a tool: go get <module>@<pseudo-version> in this folder, then
// go mod tidy -e (a test dependency of a dependency names a package its
// module no longer has).
package tools

import (
	_ "github.com/openfaas/faas-cli"
	_ "github.com/openfaas/faas/gateway"
)
