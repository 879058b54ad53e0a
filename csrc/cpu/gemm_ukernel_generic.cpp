// PLACEHOLDER: generic microkernel (filled in by the packed GEMM)
