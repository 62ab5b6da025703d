//go:build !noasm

#include "textflag.h"

// func logLossesAVX2(l, d, z, t *float64, n int, c *[33]float64)
//
// logLoss of elementary.go four logits at a time, operation for operation
// (see the comments there). c is elementaryConst; C(i) broadcasts its
// entry i into a register.
#define C(i, Y) VBROADCASTSD (i*8)(BX), Y
// HORNER sets p = p·x + c_i (math.FMA(p, x, c_i)) through the temporary Y15.
#define HORNER(i, x, p) C(i, Y15); VFMADD213PD Y15, x, p

// EXPNONPOS sets Y8 = expNonPos(a) for a in Y2, operation for operation as
// expNonPos: a = max(expMin, a) (NaN stays); kd = a·log2e + roundMagic;
// n = kd − roundMagic; scale = 2^(n+1022) from the bits of kd;
// r = −n·ln2Lo + (−n·ln2Hi + a) by fused multiply-adds; p = the Taylor
// polynomial at r by Horner's rule from 1/13!; e = p·scale·2^−1022. It
// clobbers Y2..Y5 and Y15.
#define EXPNONPOS \
	C(0, Y3); VMAXPD Y2, Y3, Y2; \
	C(1, Y3); VMULPD Y3, Y2, Y3; \
	C(2, Y4); VADDPD Y4, Y3, Y3; VSUBPD Y4, Y3, Y5; VPSUBQ Y4, Y3, Y3; \
	C(31, Y4); VPADDQ Y4, Y3, Y3; VPSLLQ $52, Y3, Y3; \
	C(3, Y4); VFNMADD231PD Y4, Y5, Y2; \
	C(4, Y4); VFNMADD231PD Y4, Y5, Y2; \
	C(5, Y8); \
	HORNER(6, Y2, Y8); HORNER(7, Y2, Y8); HORNER(8, Y2, Y8); HORNER(9, Y2, Y8); \
	HORNER(10, Y2, Y8); HORNER(11, Y2, Y8); HORNER(12, Y2, Y8); HORNER(13, Y2, Y8); \
	HORNER(14, Y2, Y8); HORNER(15, Y2, Y8); HORNER(16, Y2, Y8); HORNER(17, Y2, Y8); \
	HORNER(18, Y2, Y8); \
	VMULPD Y3, Y8, Y8; \
	C(19, Y4); VMULPD Y4, Y8, Y8

TEXT ·logLossesAVX2(SB), NOSPLIT, $0-48
	MOVQ l+0(FP), R8
	MOVQ d+8(FP), R9
	MOVQ z+16(FP), R10
	MOVQ t+24(FP), R11
	MOVQ n+32(FP), CX
	MOVQ c+40(FP), BX
	XORQ AX, AX

loop:
	VMOVUPD (R10)(AX*8), Y0 // z
	VMOVUPD (R11)(AX*8), Y1 // t

	// e = expNonPos(−|z|)
	C(32, Y2)
	VORPD   Y2, Y0, Y2 // a = −|z|
	EXPNONPOS

	// u = 1 + e, q = e/u, c = (e − (u − 1))/u
	C(20, Y9)
	VADDPD  Y8, Y9, Y10 // u
	VDIVPD  Y10, Y8, Y11 // q
	VSUBPD  Y9, Y10, Y3 // f0 = u − 1
	VSUBPD  Y3, Y8, Y12 // e − (u − 1)
	VDIVPD  Y10, Y12, Y12 // c

	// k, f: u > √2 ? (1, u·0.5 − 1) : (0, u − 1)
	C(21, Y2)
	VCMPPD  $0x1e, Y2, Y10, Y13 // u > √2 (GT_OQ)
	VANDPD  Y9, Y13, Y14 // k
	C(22, Y4)
	VMULPD  Y4, Y10, Y5 // u·0.5
	VSUBPD  Y9, Y5, Y5 // u·0.5 − 1
	VBLENDVPD Y13, Y5, Y3, Y3 // f

	// log1p(e) = k·ln2Hi + (f − (hfsq − (s·(hfsq + R) + (k·ln2Lo + c))))
	VMULPD  Y4, Y3, Y5 // 0.5·f
	VMULPD  Y3, Y5, Y5 // hfsq
	C(23, Y6)
	VADDPD  Y3, Y6, Y6 // 2 + f
	VDIVPD  Y6, Y3, Y6 // s
	VMULPD  Y6, Y6, Y7 // z = s·s
	C(24, Y2)          // p = lg7
	HORNER(25, Y7, Y2)
	HORNER(26, Y7, Y2)
	HORNER(27, Y7, Y2)
	HORNER(28, Y7, Y2)
	HORNER(29, Y7, Y2)
	HORNER(30, Y7, Y2)
	VMULPD  Y2, Y7, Y2 // R = z·p
	VADDPD  Y2, Y5, Y2 // hfsq + R
	VMULPD  Y2, Y6, Y2 // s·(hfsq + R)
	C(4, Y10)
	VMULPD  Y10, Y14, Y10 // k·ln2Lo
	VADDPD  Y12, Y10, Y10 // k·ln2Lo + c
	VADDPD  Y10, Y2, Y2
	VSUBPD  Y2, Y5, Y2 // hfsq − (…)
	VSUBPD  Y2, Y3, Y2 // f − (…)
	C(3, Y10)
	VMULPD  Y10, Y14, Y10 // k·ln2Hi
	VADDPD  Y2, Y10, Y2 // lp

	// z ≥ 0: l = z·(1 − t) + lp, d = (1 − t) − q
	// z < 0: l = (−z)·t + lp,    d = q − t
	VSUBPD  Y1, Y9, Y4 // 1 − t
	VMULPD  Y4, Y0, Y5
	VADDPD  Y2, Y5, Y5 // l0
	VSUBPD  Y11, Y4, Y6 // d0
	C(32, Y7)
	VXORPD  Y7, Y0, Y7 // −z
	VMULPD  Y1, Y7, Y7
	VADDPD  Y2, Y7, Y7 // l1
	VSUBPD  Y1, Y11, Y8 // d1
	VXORPD  Y10, Y10, Y10
	VCMPPD  $0x1d, Y10, Y0, Y13 // z ≥ 0 (GE_OQ)
	VBLENDVPD Y13, Y5, Y7, Y5
	VBLENDVPD Y13, Y6, Y8, Y6
	VMOVUPD Y5, (R8)(AX*8)
	VMOVUPD Y6, (R9)(AX*8)

	ADDQ $4, AX
	CMPQ AX, CX
	JL   loop
	VZEROUPPER
	RET

// func expsNonPosAVX2(x *float64, n int, c *[33]float64)
//
// x[i] = expNonPos(x[i]) four at a time (EXPNONPOS, as in logLossesAVX2).
TEXT ·expsNonPosAVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), R8
	MOVQ n+8(FP), CX
	MOVQ c+16(FP), BX
	XORQ AX, AX

exploop:
	VMOVUPD (R8)(AX*8), Y2 // a
	EXPNONPOS
	VMOVUPD Y8, (R8)(AX*8)

	ADDQ $4, AX
	CMPQ AX, CX
	JL   exploop
	VZEROUPPER
	RET
