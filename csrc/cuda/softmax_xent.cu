// softmax_xent kernels on the GPU (being written this session).
#include <cuda_runtime.h>
