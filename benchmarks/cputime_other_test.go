//go:build !unix

package benchmarks

func cpuTime() int64 { return -1 }
