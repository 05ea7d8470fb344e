// Package benchmarks compares authkit's JWT middleware with other Go JWT
// middlewares, per request, on identical tokens. It is a separate module so
// that the libraries it compares against never enter authkit's own go.mod.
// Everything is in the _test.go files; run.sh runs the benchmarks and prints
// the benchstat tables shown in README.md.
package benchmarks
