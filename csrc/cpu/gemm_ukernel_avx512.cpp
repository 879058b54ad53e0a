// PLACEHOLDER: avx512 microkernel (filled in by the packed GEMM)
