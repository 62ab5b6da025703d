package shard

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePageSize is the size of a transparent huge page on the systems
// where Go runs with 4 KB pages (amd64, and arm64 with 4 KB pages).
const hugePageSize = 2 << 20

// adviseHugePages advises the kernel to back the whole huge pages within
// the size bytes at p with transparent huge pages (madvise MADV_HUGEPAGE),
// which Linux then uses where its transparent_hugepage setting is
// "madvise" or "always". It is a hint: an error (a kernel without
// transparent huge pages) leaves the memory as it was.
//
// The advice stays with the address range when the array is freed, so
// that other objects the Go heap later places there may get huge pages
// too: at most the freed array's own size in resident memory.
func adviseHugePages(p unsafe.Pointer, size uintptr) {
	start := uintptr(p)
	beg := (start + hugePageSize - 1) &^ (hugePageSize - 1)
	end := (start + size) &^ (hugePageSize - 1)
	if beg >= end {
		return
	}
	_ = unix.Madvise(unsafe.Slice((*byte)(unsafe.Add(p, beg-start)), end-beg), unix.MADV_HUGEPAGE)
}
