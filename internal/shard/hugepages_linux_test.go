package shard

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// thpMode returns the kernel's transparent huge page mode ("always",
// "madvise" or "never"), or "" if it has none.
func thpMode() string {
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil {
		return ""
	}
	s := string(b)
	i, j := strings.IndexByte(s, '['), strings.IndexByte(s, ']')
	if i < 0 || j < i {
		return ""
	}
	return s[i+1 : j]
}

// thpEligible reports the THPeligible field of the mapping that holds
// address a, from /proc/self/smaps.
func thpEligible(t *testing.T, a uintptr) bool {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		// A mapping's header starts with its range, "lo-hi", and its
		// fields with a name and a colon.
		if f := strings.Fields(line); len(f) > 0 && !strings.HasSuffix(f[0], ":") {
			var lo, hi uintptr
			if _, err := fmt.Sscanf(f[0], "%x-%x", &lo, &hi); err != nil {
				t.Fatalf("smaps header %q: %v", line, err)
			}
			in = lo <= a && a < hi
			continue
		}
		if in && strings.HasPrefix(line, "THPeligible:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "THPeligible:")) == "1"
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Skipf("no THPeligible field for %#x in /proc/self/smaps", a)
	return false
}

// TestMakeLargeAdvisesHugePages checks that a large array is eligible for
// transparent huge pages where the kernel offers them on advice, and that
// an array allocated without the advice is not.
func TestMakeLargeAdvisesHugePages(t *testing.T) {
	mode := thpMode()
	if mode != "madvise" && mode != "always" {
		t.Skipf("transparent huge pages are %q here", mode)
	}
	const n = 16 << 20 / 4 // 16 MB of float32
	inside := func(s []float32) uintptr {
		// An address 2 MB-aligned within s: its mapping's advice is s's.
		p := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
		return (p + 2*hugePageSize - 1) &^ (hugePageSize - 1)
	}
	large := makeLarge[[]float32](0, n)
	large = append(large, make([]float32, n)...)
	if !thpEligible(t, inside(large)) {
		t.Errorf("makeLarge's %d MB array is not eligible for huge pages (mode %q)", n*4>>20, mode)
	}
	if mode == "madvise" {
		// The control is a fresh mapping: a plain make could reuse a range
		// that an earlier large array, since freed, left advised.
		m, err := unix.Mmap(-1, 0, n*4, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Munmap(m)
		m[0] = 1
		plain := unsafe.Slice((*float32)(unsafe.Pointer(&m[0])), n)
		if thpEligible(t, inside(plain)) {
			t.Errorf("a plain %d MB mapping is eligible for huge pages in mode %q: the check cannot tell advice from none", n*4>>20, mode)
		}
	}
	small := makeLarge[[]float32](hugePageMin/4-1, hugePageMin/4-1)
	if len(small) != hugePageMin/4-1 || cap(small) != hugePageMin/4-1 {
		t.Errorf("makeLarge(%d, %d) has len %d cap %d", hugePageMin/4-1, hugePageMin/4-1, len(small), cap(small))
	}
}
