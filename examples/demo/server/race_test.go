//go:build race

package server

// raceEnabled builds the demo binary with the race detector when the tests
// run with it, so that the process-level tests find races in the server too.
const raceEnabled = true
