package shard

import "unsafe"

// hugePageMin is the size in bytes from which an array of a data set is
// advised onto transparent huge pages.
const hugePageMin = 4 << 20

// makeLarge returns make(S, n, c). An array of hugePageMin bytes or more
// is advised onto transparent huge pages (adviseHugePages) before it is
// first written, so that a pass over the features crosses a page, and
// misses the TLB, every 2 MB rather than every 4 KB, and loading a large
// set takes one page fault per 2 MB. Where the system does not offer huge
// pages the advice does nothing; the contents are the same either way.
func makeLarge[S ~[]E, E any](n, c int) S {
	s := make(S, n, c)
	var e E
	if size := uintptr(c) * unsafe.Sizeof(e); size >= hugePageMin {
		adviseHugePages(unsafe.Pointer(unsafe.SliceData(s)), size)
	}
	return s
}
