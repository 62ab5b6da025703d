//go:build !noasm

#include "textflag.h"

// func dotF32SSE2(x []float32, w []float64) float64
//
// Lanes: X0 = (s0, s1), X1 = (s2, s3), X2 = (s4, s5), X3 = (s6, s7), where
// s_l sums float64(x[i])·w[i] over i ≡ l (mod 8), i < n8. Then
// ((s0+s4) + (s2+s6)) + ((s1+s5) + (s3+s7)), then the tail left to right.
TEXT ·dotF32SSE2(SB), NOSPLIT, $0-56
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	MOVQ w_base+24(FP), DI
	XORPS X0, X0
	XORPS X1, X1
	XORPS X2, X2
	XORPS X3, X3
	MOVQ CX, DX
	ANDQ $-8, DX
	XORQ AX, AX
	CMPQ DX, $0
	JE   reduce

loop:
	CVTPS2PD 0(SI)(AX*4), X4
	CVTPS2PD 8(SI)(AX*4), X5
	CVTPS2PD 16(SI)(AX*4), X6
	CVTPS2PD 24(SI)(AX*4), X7
	MOVUPD   0(DI)(AX*8), X8
	MOVUPD   16(DI)(AX*8), X9
	MOVUPD   32(DI)(AX*8), X10
	MOVUPD   48(DI)(AX*8), X11
	MULPD    X8, X4
	MULPD    X9, X5
	MULPD    X10, X6
	MULPD    X11, X7
	ADDPD    X4, X0
	ADDPD    X5, X1
	ADDPD    X6, X2
	ADDPD    X7, X3
	ADDQ     $8, AX
	CMPQ     AX, DX
	JL       loop

reduce:
	ADDPD    X2, X0
	ADDPD    X3, X1
	ADDPD    X1, X0
	MOVAPD   X0, X1
	UNPCKHPD X1, X1
	ADDSD    X1, X0

tail:
	CMPQ     AX, CX
	JGE      done
	CVTSS2SD 0(SI)(AX*4), X4
	MULSD    0(DI)(AX*8), X4
	ADDSD    X4, X0
	INCQ     AX
	JMP      tail

done:
	MOVSD X0, ret+48(FP)
	RET

// func axpyF32SSE2(dst []float64, a float64, x []float32)
//
// dst[i] += a·float64(x[i]), eight elements an iteration, then the tail.
TEXT ·axpyF32SSE2(SB), NOSPLIT, $0-56
	MOVQ     dst_base+0(FP), DI
	MOVSD    a+24(FP), X0
	MOVQ     x_base+32(FP), SI
	MOVQ     x_len+40(FP), CX
	UNPCKLPD X0, X0
	MOVQ     CX, DX
	ANDQ     $-8, DX
	XORQ     AX, AX
	CMPQ     DX, $0
	JE       tail

loop:
	CVTPS2PD 0(SI)(AX*4), X1
	CVTPS2PD 8(SI)(AX*4), X2
	CVTPS2PD 16(SI)(AX*4), X3
	CVTPS2PD 24(SI)(AX*4), X4
	MULPD    X0, X1
	MULPD    X0, X2
	MULPD    X0, X3
	MULPD    X0, X4
	MOVUPD   0(DI)(AX*8), X5
	MOVUPD   16(DI)(AX*8), X6
	MOVUPD   32(DI)(AX*8), X7
	MOVUPD   48(DI)(AX*8), X8
	ADDPD    X1, X5
	ADDPD    X2, X6
	ADDPD    X3, X7
	ADDPD    X4, X8
	MOVUPD   X5, 0(DI)(AX*8)
	MOVUPD   X6, 16(DI)(AX*8)
	MOVUPD   X7, 32(DI)(AX*8)
	MOVUPD   X8, 48(DI)(AX*8)
	ADDQ     $8, AX
	CMPQ     AX, DX
	JL       loop

tail:
	CMPQ     AX, CX
	JGE      done
	CVTSS2SD 0(SI)(AX*4), X1
	MULSD    X0, X1
	ADDSD    0(DI)(AX*8), X1
	MOVSD    X1, 0(DI)(AX*8)
	INCQ     AX
	JMP      tail

done:
	RET
