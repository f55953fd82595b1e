// Package archtest holds the tests that keep the layout telling the
// architecture: no stage package imports another, the transform imports no
// transport, the public contract imports nothing of ours, and the harvester
// main stays flags, wiring and printing.
package archtest
