//go:build unix

// Package benchcpu adds to a benchmark the CPU time its operations take,
// which is what SCF bills, beside the wall time testing.B reports: on a
// shared machine wall time also counts the waits for other tenants.
package benchcpu

import (
	"syscall"
	"testing"
	"time"
)

// Start begins counting; the function it returns, called after the
// benchmark's loop, reports the CPU time per operation since then as
// cpu-ns/op. The time is the whole process's, user and system, so it
// includes the runtime's own work (the garbage collector) and any
// in-process server the benchmark talks to.
func Start(b *testing.B) (stop func()) {
	b.Helper()
	start := used(b)
	return func() {
		b.ReportMetric(float64(used(b)-start)/float64(b.N), "cpu-ns/op")
	}
}

func used(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
