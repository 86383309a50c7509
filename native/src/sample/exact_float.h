#pragma once
// Include FIRST in every file that reproduces reference arithmetic. The reference rounds
// every multiply and add separately (numpy and torch's CPU kernels); with -march=native GCC
// would otherwise fuse a * b + c into one FMA (one rounding), which flips truncated int64
// timesteps and float32 sigmas that the golden data compare exactly.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#elif defined(__clang__)
#pragma clang fp contract(off)
#endif
