// PLACEHOLDER: avx2 microkernel (filled in by the packed GEMM)
