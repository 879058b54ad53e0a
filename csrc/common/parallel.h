// Thread count for every OpenMP region. libgomp's omp_set_num_threads is
// per calling thread, so the count lives in one global and each parallel
// region passes it explicitly with num_threads(lg::num_threads()).
#pragma once
#include <cstdint>

namespace lg {
int num_threads();              // threads a kernel may use (>= 1)
void set_num_threads(int n);    // n >= 1
bool have_openmp();
// Threads worth using for `work` units when each thread should get at
// least `min_work_per_thread`: small problems stay on one thread.
int threads_for(int64_t work, int64_t min_work_per_thread);
}  // namespace lg
