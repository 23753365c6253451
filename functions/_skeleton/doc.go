// Package skeleton is a function to copy: it serves one order of the
// contract and shows the shape every function has (HACKING.md, "How to
// add a function"). Copy this folder to functions/<name>, rename the
// package, set Name, pick the subject's payload type in serve, then add
// one line to functions.All() and run make generate.
//
// As it stands it answers a deliver order by checking that the order's
// user exists: unknown_user (permanent) when not, a temporary failure when
// the store fails, else "checked". The leading underscore of its folder
// keeps it out of ./... (no image or registry holds it); deploy's tests
// compile and test it all the same.
package skeleton
