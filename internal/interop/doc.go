// Package interop holds peers of other implementations, built from their
// published modules, that the namespace tests run against this project:
// programs at the top of the dependency graph, like cmd, never imported by
// library code.
package interop
