//go:build !noasm

#include "textflag.h"

// ---- One-row kernels (AVX2 + FMA) ----

// func dotF32FMA(x []float32, w []float64) float64
//
// Lanes: Y0 = (s0, s1, s2, s3), Y1 = (s4, s5, s6, s7), where s_l ←
// fma(float64(x[i]), w[i], s_l) over i ≡ l (mod 8), i < n8. Then
// ((s0+s4) + (s2+s6)) + ((s1+s5) + (s3+s7)), then the tail, fused, left to
// right.
TEXT ·dotF32FMA(SB), NOSPLIT, $0-56
	MOVQ   x_base+0(FP), SI
	MOVQ   x_len+8(FP), CX
	MOVQ   w_base+24(FP), DI
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	MOVQ   CX, DX
	ANDQ   $-8, DX
	XORQ   AX, AX
	CMPQ   DX, $0
	JE     dotreduce

dotloop:
	VCVTPS2PD   (SI)(AX*4), Y2
	VCVTPS2PD   16(SI)(AX*4), Y3
	VFMADD231PD (DI)(AX*8), Y2, Y0
	VFMADD231PD 32(DI)(AX*8), Y3, Y1
	ADDQ        $8, AX
	CMPQ        AX, DX
	JL          dotloop

dotreduce:
	VADDPD       Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD       X1, X0, X0
	VUNPCKHPD    X0, X0, X1
	VADDSD       X1, X0, X0

dottail:
	CMPQ        AX, CX
	JGE         dotdone
	VCVTSS2SD   (SI)(AX*4), X2, X2
	VFMADD231SD (DI)(AX*8), X2, X0
	INCQ        AX
	JMP         dottail

dotdone:
	VZEROUPPER
	MOVSD X0, ret+48(FP)
	RET

// func axpyF32FMA(dst []float64, a float64, x []float32)
//
// dst[i] ← fma(a, float64(x[i]), dst[i]), eight elements an iteration, then
// the tail.
TEXT ·axpyF32FMA(SB), NOSPLIT, $0-56
	MOVQ         dst_base+0(FP), DI
	VBROADCASTSD a+24(FP), Y0
	MOVQ         x_base+32(FP), SI
	MOVQ         x_len+40(FP), CX
	MOVQ         CX, DX
	ANDQ         $-8, DX
	XORQ         AX, AX
	CMPQ         DX, $0
	JE           axpytail

axpyloop:
	VCVTPS2PD   (SI)(AX*4), Y1
	VCVTPS2PD   16(SI)(AX*4), Y2
	VMOVUPD     (DI)(AX*8), Y3
	VMOVUPD     32(DI)(AX*8), Y4
	VFMADD231PD Y1, Y0, Y3
	VFMADD231PD Y2, Y0, Y4
	VMOVUPD     Y3, (DI)(AX*8)
	VMOVUPD     Y4, 32(DI)(AX*8)
	ADDQ        $8, AX
	CMPQ        AX, DX
	JL          axpyloop

axpytail:
	CMPQ        AX, CX
	JGE         axpydone
	VCVTSS2SD   (SI)(AX*4), X1, X1
	VMOVSD      (DI)(AX*8), X3
	VFMADD231SD X1, X0, X3
	VMOVSD      X3, (DI)(AX*8)
	INCQ        AX
	JMP         axpytail

axpydone:
	VZEROUPPER
	RET

// ---- AVX-512 tile kernels ----
//
// Each zmm register holds the eight partial sums of one dot product (lane
// l sums the products of the features j ≡ l mod 8), or eight consecutive
// elements of a gradient row. Each product is added fused (VFMADD231PD):
// the same operations as the portable Go kernels' math.FMA. Each
// iteration also prefetches the same features of the two rows at pf, rows of
// a later tile, so that the memory reads of a pass overlap its compute.
//
// The prefetches go to L2 (PREFETCHT1), not L1: a prefetch into L1 holds
// one of the core's few L1 miss buffers for the whole trip to memory, and
// with the kernel's own loads also waiting on them a pass streamed at
// 7–9 GB/s on an AMD EPYC (Zen 4) whose core reads 21 GB/s. Into L2 the
// same pass runs at its in-cache speed; the kernel's loads then hit L2.

// MA sets acc ← fma(x, w, acc).
#define MA(x, w, acc) VFMADD231PD w, x, acc

// HSUM reduces the partial sums in Z (low halves Y, X) to one float64 in
// the low lane of X: ((s0+s4) + (s2+s6)) + ((s1+s5) + (s3+s7)).
#define HSUM(Z, Y, X) VEXTRACTF64X4 $1, Z, Y24; VADDPD Y24, Y, Y; VEXTRACTF32X4 $1, Y, X24; VADDPD X24, X, X; VUNPCKHPD X, X, X25; VADDSD X25, X, X

// ROWS loads the four row pointers x + 4·off[i] into R8..R11 (x in SI,
// &off in DI).
#define ROWS MOVQ 0(DI), R8; LEAQ (SI)(R8*4), R8; MOVQ 8(DI), R9; LEAQ (SI)(R9*4), R9; MOVQ 16(DI), R10; LEAQ (SI)(R10*4), R10; MOVQ 24(DI), R11; LEAQ (SI)(R11*4), R11

// PFROWS loads the two prefetch row pointers x + 4·pf[i] into BX and SI
// (x in SI, &pf in DI).
#define PFROWS MOVQ 0(DI), BX; LEAQ (SI)(BX*4), BX; MOVQ 8(DI), DI; LEAQ (SI)(DI*4), SI

// PF prefetches, into L2, the features at element AX of the rows at BX and SI.
#define PF PREFETCHT1 (BX)(AX*4); PREFETCHT1 (SI)(AX*4)

// CVT4 converts eight features of each of the four rows at element AX to
// float64 in Z16..Z19.
#define CVT4 VCVTPS2PD (R8)(AX*4), Z16; VCVTPS2PD (R9)(AX*4), Z17; VCVTPS2PD (R10)(AX*4), Z18; VCVTPS2PD (R11)(AX*4), Z19

// func dot4x4AVX512(out *[16]float64, x *float32, off *[4]int, w *float64, ws, n8 int, pf *[2]int)
//
// Z(4i+t) accumulates row i against output t; rows in R8..R11, outputs
// w + 8·t·ws in R12, R13, R14, DX.
TEXT ·dot4x4AVX512(SB), NOSPLIT, $0-56
	MOVQ x+8(FP), SI
	MOVQ off+16(FP), DI
	ROWS
	MOVQ w+24(FP), R12
	MOVQ ws+32(FP), BX
	SHLQ $3, BX
	LEAQ (R12)(BX*1), R13
	LEAQ (R13)(BX*1), R14
	LEAQ (R14)(BX*1), DX
	MOVQ pf+48(FP), DI
	PFROWS
	MOVQ n8+40(FP), CX
	VXORPD Z0, Z0, Z0
	VXORPD Z1, Z1, Z1
	VXORPD Z2, Z2, Z2
	VXORPD Z3, Z3, Z3
	VXORPD Z4, Z4, Z4
	VXORPD Z5, Z5, Z5
	VXORPD Z6, Z6, Z6
	VXORPD Z7, Z7, Z7
	VXORPD Z8, Z8, Z8
	VXORPD Z9, Z9, Z9
	VXORPD Z10, Z10, Z10
	VXORPD Z11, Z11, Z11
	VXORPD Z12, Z12, Z12
	VXORPD Z13, Z13, Z13
	VXORPD Z14, Z14, Z14
	VXORPD Z15, Z15, Z15
	XORQ AX, AX

dot44loop:
	PF
	CVT4
	VMOVUPD (R12)(AX*8), Z20
	VMOVUPD (R13)(AX*8), Z21
	VMOVUPD (R14)(AX*8), Z22
	VMOVUPD (DX)(AX*8), Z23
	MA(Z16, Z20, Z0)
	MA(Z16, Z21, Z1)
	MA(Z16, Z22, Z2)
	MA(Z16, Z23, Z3)
	MA(Z17, Z20, Z4)
	MA(Z17, Z21, Z5)
	MA(Z17, Z22, Z6)
	MA(Z17, Z23, Z7)
	MA(Z18, Z20, Z8)
	MA(Z18, Z21, Z9)
	MA(Z18, Z22, Z10)
	MA(Z18, Z23, Z11)
	MA(Z19, Z20, Z12)
	MA(Z19, Z21, Z13)
	MA(Z19, Z22, Z14)
	MA(Z19, Z23, Z15)
	ADDQ $8, AX
	CMPQ AX, CX
	JL   dot44loop

	MOVQ out+0(FP), DI
	HSUM(Z0, Y0, X0)
	VMOVSD X0, 0(DI)
	HSUM(Z1, Y1, X1)
	VMOVSD X1, 8(DI)
	HSUM(Z2, Y2, X2)
	VMOVSD X2, 16(DI)
	HSUM(Z3, Y3, X3)
	VMOVSD X3, 24(DI)
	HSUM(Z4, Y4, X4)
	VMOVSD X4, 32(DI)
	HSUM(Z5, Y5, X5)
	VMOVSD X5, 40(DI)
	HSUM(Z6, Y6, X6)
	VMOVSD X6, 48(DI)
	HSUM(Z7, Y7, X7)
	VMOVSD X7, 56(DI)
	HSUM(Z8, Y8, X8)
	VMOVSD X8, 64(DI)
	HSUM(Z9, Y9, X9)
	VMOVSD X9, 72(DI)
	HSUM(Z10, Y10, X10)
	VMOVSD X10, 80(DI)
	HSUM(Z11, Y11, X11)
	VMOVSD X11, 88(DI)
	HSUM(Z12, Y12, X12)
	VMOVSD X12, 96(DI)
	HSUM(Z13, Y13, X13)
	VMOVSD X13, 104(DI)
	HSUM(Z14, Y14, X14)
	VMOVSD X14, 112(DI)
	HSUM(Z15, Y15, X15)
	VMOVSD X15, 120(DI)
	VZEROUPPER
	RET

// func dot4x2AVX512(out *float64, x *float32, off *[4]int, w *float64, ws, n8 int, pf *[2]int)
//
// Z(2i+t) accumulates row i against output t, written to out[4i+t]; rows
// in R8..R11, outputs w and w + 8·ws in R12, R13.
TEXT ·dot4x2AVX512(SB), NOSPLIT, $0-56
	MOVQ x+8(FP), SI
	MOVQ off+16(FP), DI
	ROWS
	MOVQ w+24(FP), R12
	MOVQ ws+32(FP), BX
	LEAQ (R12)(BX*8), R13
	MOVQ pf+48(FP), DI
	PFROWS
	MOVQ n8+40(FP), CX
	VXORPD Z0, Z0, Z0
	VXORPD Z1, Z1, Z1
	VXORPD Z2, Z2, Z2
	VXORPD Z3, Z3, Z3
	VXORPD Z4, Z4, Z4
	VXORPD Z5, Z5, Z5
	VXORPD Z6, Z6, Z6
	VXORPD Z7, Z7, Z7
	XORQ AX, AX

dot42loop:
	PF
	CVT4
	VMOVUPD (R12)(AX*8), Z20
	VMOVUPD (R13)(AX*8), Z21
	MA(Z16, Z20, Z0)
	MA(Z16, Z21, Z1)
	MA(Z17, Z20, Z2)
	MA(Z17, Z21, Z3)
	MA(Z18, Z20, Z4)
	MA(Z18, Z21, Z5)
	MA(Z19, Z20, Z6)
	MA(Z19, Z21, Z7)
	ADDQ $8, AX
	CMPQ AX, CX
	JL   dot42loop

	MOVQ out+0(FP), DI
	HSUM(Z0, Y0, X0)
	VMOVSD X0, 0(DI)
	HSUM(Z1, Y1, X1)
	VMOVSD X1, 8(DI)
	HSUM(Z2, Y2, X2)
	VMOVSD X2, 32(DI)
	HSUM(Z3, Y3, X3)
	VMOVSD X3, 40(DI)
	HSUM(Z4, Y4, X4)
	VMOVSD X4, 64(DI)
	HSUM(Z5, Y5, X5)
	VMOVSD X5, 72(DI)
	HSUM(Z6, Y6, X6)
	VMOVSD X6, 96(DI)
	HSUM(Z7, Y7, X7)
	VMOVSD X7, 104(DI)
	VZEROUPPER
	RET

// func dot4x1AVX512(out *float64, x *float32, off *[4]int, w *float64, n8 int, pf *[2]int)
//
// Z0..Z3 accumulate rows 0..3 against the one output at w (R12), written
// to out[4i].
TEXT ·dot4x1AVX512(SB), NOSPLIT, $0-48
	MOVQ x+8(FP), SI
	MOVQ off+16(FP), DI
	ROWS
	MOVQ w+24(FP), R12
	MOVQ pf+40(FP), DI
	PFROWS
	MOVQ n8+32(FP), CX
	VXORPD Z0, Z0, Z0
	VXORPD Z1, Z1, Z1
	VXORPD Z2, Z2, Z2
	VXORPD Z3, Z3, Z3
	XORQ AX, AX

dot41loop:
	PF
	CVT4
	VMOVUPD (R12)(AX*8), Z20
	MA(Z16, Z20, Z0)
	MA(Z17, Z20, Z1)
	MA(Z18, Z20, Z2)
	MA(Z19, Z20, Z3)
	ADDQ $8, AX
	CMPQ AX, CX
	JL   dot41loop

	MOVQ out+0(FP), DI
	HSUM(Z0, Y0, X0)
	VMOVSD X0, 0(DI)
	HSUM(Z1, Y1, X1)
	VMOVSD X1, 32(DI)
	HSUM(Z2, Y2, X2)
	VMOVSD X2, 64(DI)
	HSUM(Z3, Y3, X3)
	VMOVSD X3, 96(DI)
	VZEROUPPER
	RET

// AXPY adds δ_0·x_0 + … + δ_3·x_3 (rows in order, δ_i in Z(d0..d3)) to the
// eight gradient elements at element AX of the row at g.
#define AXPY(g, d0, d1, d2, d3) VMOVUPD (g)(AX*8), Z20; MA(Z16, d0, Z20); MA(Z17, d1, Z20); MA(Z18, d2, Z20); MA(Z19, d3, Z20); VMOVUPD Z20, (g)(AX*8)

// func axpy4x4AVX512(grad *float64, gs int, x *float32, off *[4]int, delta *[16]float64, n8 int, pf *[2]int)
//
// Z(4i+t) holds δ_it broadcast; gradient rows g + 8·t·gs in R12, R13, R14, DX.
TEXT ·axpy4x4AVX512(SB), NOSPLIT, $0-56
	MOVQ x+16(FP), SI
	MOVQ off+24(FP), DI
	ROWS
	MOVQ grad+0(FP), R12
	MOVQ gs+8(FP), BX
	SHLQ $3, BX
	LEAQ (R12)(BX*1), R13
	LEAQ (R13)(BX*1), R14
	LEAQ (R14)(BX*1), DX
	MOVQ delta+32(FP), DI
	VBROADCASTSD 0(DI), Z0
	VBROADCASTSD 8(DI), Z1
	VBROADCASTSD 16(DI), Z2
	VBROADCASTSD 24(DI), Z3
	VBROADCASTSD 32(DI), Z4
	VBROADCASTSD 40(DI), Z5
	VBROADCASTSD 48(DI), Z6
	VBROADCASTSD 56(DI), Z7
	VBROADCASTSD 64(DI), Z8
	VBROADCASTSD 72(DI), Z9
	VBROADCASTSD 80(DI), Z10
	VBROADCASTSD 88(DI), Z11
	VBROADCASTSD 96(DI), Z12
	VBROADCASTSD 104(DI), Z13
	VBROADCASTSD 112(DI), Z14
	VBROADCASTSD 120(DI), Z15
	MOVQ pf+48(FP), DI
	PFROWS
	MOVQ n8+40(FP), CX
	XORQ AX, AX

axpy44loop:
	PF
	CVT4
	AXPY(R12, Z0, Z4, Z8, Z12)
	AXPY(R13, Z1, Z5, Z9, Z13)
	AXPY(R14, Z2, Z6, Z10, Z14)
	AXPY(DX, Z3, Z7, Z11, Z15)
	ADDQ $8, AX
	CMPQ AX, CX
	JL   axpy44loop
	VZEROUPPER
	RET

// func axpy4x2AVX512(grad *float64, gs int, x *float32, off *[4]int, delta *float64, n8 int, pf *[2]int)
//
// Z(4t+i) holds δ_it = delta[4i+t] broadcast; gradient rows g and
// g + 8·gs in R12, R13.
TEXT ·axpy4x2AVX512(SB), NOSPLIT, $0-56
	MOVQ x+16(FP), SI
	MOVQ off+24(FP), DI
	ROWS
	MOVQ grad+0(FP), R12
	MOVQ gs+8(FP), BX
	LEAQ (R12)(BX*8), R13
	MOVQ delta+32(FP), DI
	VBROADCASTSD 0(DI), Z0
	VBROADCASTSD 32(DI), Z1
	VBROADCASTSD 64(DI), Z2
	VBROADCASTSD 96(DI), Z3
	VBROADCASTSD 8(DI), Z4
	VBROADCASTSD 40(DI), Z5
	VBROADCASTSD 72(DI), Z6
	VBROADCASTSD 104(DI), Z7
	MOVQ pf+48(FP), DI
	PFROWS
	MOVQ n8+40(FP), CX
	XORQ AX, AX

axpy42loop:
	PF
	CVT4
	AXPY(R12, Z0, Z1, Z2, Z3)
	AXPY(R13, Z4, Z5, Z6, Z7)
	ADDQ $8, AX
	CMPQ AX, CX
	JL   axpy42loop
	VZEROUPPER
	RET

// func axpy4x1AVX512(grad *float64, x *float32, off *[4]int, delta *float64, n8 int, pf *[2]int)
//
// Z0..Z3 hold δ_i = delta[4i] broadcast.
TEXT ·axpy4x1AVX512(SB), NOSPLIT, $0-48
	MOVQ x+8(FP), SI
	MOVQ off+16(FP), DI
	ROWS
	MOVQ grad+0(FP), R12
	MOVQ delta+24(FP), DI
	VBROADCASTSD 0(DI), Z0
	VBROADCASTSD 32(DI), Z1
	VBROADCASTSD 64(DI), Z2
	VBROADCASTSD 96(DI), Z3
	MOVQ pf+40(FP), DI
	PFROWS
	MOVQ n8+32(FP), CX
	XORQ AX, AX

axpy41loop:
	PF
	CVT4
	AXPY(R12, Z0, Z1, Z2, Z3)
	ADDQ $8, AX
	CMPQ AX, CX
	JL   axpy41loop
	VZEROUPPER
	RET

// ---- AVX2 tile kernels ----
//
// A dot product's eight partial sums take two ymm registers: lanes 0–3
// (features j ≡ 0..3 mod 8) and lanes 4–7. Each product is added fused
// (VFMADD231PD), as in the portable Go kernels.

// HSUM2 reduces the partial sums in (lo, hi) to one float64 in the low lane
// of X: lo+hi = (s0+s4, s1+s5, s2+s6, s3+s7), then ((s0+s4) + (s2+s6)) +
// ((s1+s5) + (s3+s7)).
#define HSUM2(lo, hi, X) VADDPD hi, lo, lo; VEXTRACTF128 $1, lo, X14; VADDPD X14, X, X; VUNPCKHPD X, X, X15; VADDSD X15, X, X

// MA2 sets acc ← fma(x, w, acc).
#define MA2(x, w, acc) VFMADD231PD w, x, acc

// func dot4x1AVX2(out *[16]float64, x *float32, off *[4]int, w *float64, n8 int, pf *[2]int)
//
// (Y0, Y1), (Y2, Y3), (Y4, Y5), (Y6, Y7) accumulate rows 0..3 against the
// one output at w (R12); the two rows at pf (R13, R14) are prefetched into L2.
TEXT ·dot4x1AVX2(SB), NOSPLIT, $0-48
	MOVQ x+8(FP), SI
	MOVQ pf+40(FP), DI
	MOVQ 0(DI), R13
	LEAQ (SI)(R13*4), R13
	MOVQ 8(DI), R14
	LEAQ (SI)(R14*4), R14
	MOVQ off+16(FP), DI
	ROWS
	MOVQ w+24(FP), R12
	MOVQ n8+32(FP), CX
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7
	XORQ AX, AX

dot41avx2loop:
	PREFETCHT1 (R13)(AX*4)
	PREFETCHT1 (R14)(AX*4)
	VMOVUPD   (R12)(AX*8), Y8
	VMOVUPD   32(R12)(AX*8), Y9
	VCVTPS2PD (R8)(AX*4), Y10
	VCVTPS2PD 16(R8)(AX*4), Y11
	MA2(Y10, Y8, Y0)
	MA2(Y11, Y9, Y1)
	VCVTPS2PD (R9)(AX*4), Y12
	VCVTPS2PD 16(R9)(AX*4), Y13
	MA2(Y12, Y8, Y2)
	MA2(Y13, Y9, Y3)
	VCVTPS2PD (R10)(AX*4), Y14
	VCVTPS2PD 16(R10)(AX*4), Y15
	MA2(Y14, Y8, Y4)
	MA2(Y15, Y9, Y5)
	VCVTPS2PD (R11)(AX*4), Y10
	VCVTPS2PD 16(R11)(AX*4), Y11
	MA2(Y10, Y8, Y6)
	MA2(Y11, Y9, Y7)
	ADDQ $8, AX
	CMPQ AX, CX
	JL   dot41avx2loop

	MOVQ out+0(FP), DI
	HSUM2(Y0, Y1, X0)
	VMOVSD X0, 0(DI)
	HSUM2(Y2, Y3, X2)
	VMOVSD X2, 32(DI)
	HSUM2(Y4, Y5, X4)
	VMOVSD X4, 64(DI)
	HSUM2(Y6, Y7, X6)
	VMOVSD X6, 96(DI)
	VZEROUPPER
	RET

// func dot2x2AVX2(out *[4]float64, x0, x1 *float32, w0, w1 *float64, n8 int)
//
// out = (x0·w0, x0·w1, x1·w0, x1·w1); (Y0, Y1), (Y2, Y3), (Y4, Y5), (Y6, Y7)
// hold their partial sums.
TEXT ·dot2x2AVX2(SB), NOSPLIT, $0-48
	MOVQ x0+8(FP), R8
	MOVQ x1+16(FP), R9
	MOVQ w0+24(FP), R12
	MOVQ w1+32(FP), R13
	MOVQ n8+40(FP), CX
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7
	XORQ AX, AX

dot22avx2loop:
	// lanes 0–3
	VCVTPS2PD (R8)(AX*4), Y8
	VCVTPS2PD (R9)(AX*4), Y9
	VMOVUPD   (R12)(AX*8), Y10
	VMOVUPD   (R13)(AX*8), Y11
	MA2(Y8, Y10, Y0)
	MA2(Y8, Y11, Y2)
	MA2(Y9, Y10, Y4)
	MA2(Y9, Y11, Y6)
	// lanes 4–7
	VCVTPS2PD 16(R8)(AX*4), Y8
	VCVTPS2PD 16(R9)(AX*4), Y9
	VMOVUPD   32(R12)(AX*8), Y10
	VMOVUPD   32(R13)(AX*8), Y11
	MA2(Y8, Y10, Y1)
	MA2(Y8, Y11, Y3)
	MA2(Y9, Y10, Y5)
	MA2(Y9, Y11, Y7)
	ADDQ $8, AX
	CMPQ AX, CX
	JL   dot22avx2loop

	MOVQ out+0(FP), DI
	HSUM2(Y0, Y1, X0)
	VMOVSD X0, 0(DI)
	HSUM2(Y2, Y3, X2)
	VMOVSD X2, 8(DI)
	HSUM2(Y4, Y5, X4)
	VMOVSD X4, 16(DI)
	HSUM2(Y6, Y7, X6)
	VMOVSD X6, 24(DI)
	VZEROUPPER
	RET

// func axpy4x1AVX2(grad *float64, x *float32, off *[4]int, delta *float64, n8 int, pf *[2]int)
//
// grad[j] += δ0·x0[j], then δ1·x1[j], δ2·x2[j], δ3·x3[j], where δi is
// delta[4i] (one column of a tile's δ); eight elements an iteration in two
// independent chains (Y4: j..j+3, Y9: j+4..j+7). The two rows at pf (R13,
// R14) are prefetched into L2.
TEXT ·axpy4x1AVX2(SB), NOSPLIT, $0-48
	MOVQ x+8(FP), SI
	MOVQ pf+40(FP), DI
	MOVQ 0(DI), R13
	LEAQ (SI)(R13*4), R13
	MOVQ 8(DI), R14
	LEAQ (SI)(R14*4), R14
	MOVQ off+16(FP), DI
	ROWS
	MOVQ grad+0(FP), R12
	MOVQ delta+24(FP), DI
	VBROADCASTSD 0(DI), Y0
	VBROADCASTSD 32(DI), Y1
	VBROADCASTSD 64(DI), Y2
	VBROADCASTSD 96(DI), Y3
	MOVQ n8+32(FP), CX
	XORQ AX, AX

axpy41avx2loop:
	PREFETCHT1 (R13)(AX*4)
	PREFETCHT1 (R14)(AX*4)
	VMOVUPD   (R12)(AX*8), Y4
	VMOVUPD   32(R12)(AX*8), Y9
	VCVTPS2PD (R8)(AX*4), Y5
	VCVTPS2PD 16(R8)(AX*4), Y10
	MA2(Y5, Y0, Y4)
	MA2(Y10, Y0, Y9)
	VCVTPS2PD (R9)(AX*4), Y6
	VCVTPS2PD 16(R9)(AX*4), Y11
	MA2(Y6, Y1, Y4)
	MA2(Y11, Y1, Y9)
	VCVTPS2PD (R10)(AX*4), Y7
	VCVTPS2PD 16(R10)(AX*4), Y12
	MA2(Y7, Y2, Y4)
	MA2(Y12, Y2, Y9)
	VCVTPS2PD (R11)(AX*4), Y8
	VCVTPS2PD 16(R11)(AX*4), Y13
	MA2(Y8, Y3, Y4)
	MA2(Y13, Y3, Y9)
	VMOVUPD   Y4, (R12)(AX*8)
	VMOVUPD   Y9, 32(R12)(AX*8)
	ADDQ $8, AX
	CMPQ AX, CX
	JL   axpy41avx2loop
	VZEROUPPER
	RET
