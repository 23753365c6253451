// Package importgraph holds the test that keeps the module's imports going
// downward, layer by layer (its code and tests alike):
//
//	internal/...           the parts: contract, adapter, store, mail, ...
//	connector              the NATS side; imports internal/ only
//	functions/<name>       one function; imports internal/ only, never another function
//	functions              the registry; imports the functions and internal/
//	system                 the assembler of the whole system in one process
//	cmd/..., systest/...,  binaries, end-to-end harnesses and tests, the
//	deploy                 deployment checks; never imported by the layers below
//
// A binary under cmd/ does not import systest/: the benchmarks assemble
// the system with package system, as the local system does. A function
// image, built from internal/, functions/ and cmd/function alone, so
// compiles without anything above functions.
package importgraph
