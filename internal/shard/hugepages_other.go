//go:build !linux

package shard

import "unsafe"

// adviseHugePages does nothing where transparent huge pages are not
// advised through madvise.
func adviseHugePages(unsafe.Pointer, uintptr) {}
