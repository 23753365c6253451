// Package functions is the explicit list of the project's functions. The
// function image's entrypoint (cmd/function), the local system
// (cmd/caliopen-local) and the stack.yml test all read it; a function exists
// when it is listed here.
//
// To add one: create functions/<name>/ with a New constructor returning an
// fnhttp.Core, then add a Spec below. Its subjects come from the contract.
package functions

import (
	"log/slog"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/fnhttp"
)

// Env is what a function's builder receives: configuration and shared
// dependencies, passed explicitly.
type Env struct {
	// Getenv reads the function's configuration.
	Getenv func(string) string
	// Logger is the process logger; builders bind "fn" themselves.
	Logger *slog.Logger
	// Contract is the wire contract.
	Contract *contract.Contract
}

// Spec describes one function.
type Spec struct {
	// Name is the function's name as in the contract and stack.yml.
	Name string
	// Build constructs the function's core from its environment.
	Build func(env Env) (fnhttp.Core, error)
}

// All lists every function that exists, in contract order. Functions arrive
// with the issues that build them; the contract names them all from the start.
func All() []Spec {
	return []Spec{}
}

// Lookup returns the named function.
func Lookup(name string) (Spec, bool) {
	for _, s := range All() {
		if s.Name == name {
			return s, true
		}
	}
	return Spec{}, false
}
