/* mbuckets: the histogram bucket bounds the programs share. */
#include "mbuckets.h"

const double mbuckets_fast[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                0.1,    0.25,  0.5,    1,     2.5,  5,     10};
_Static_assert(sizeof mbuckets_fast == MBUCKETS_FAST_N * sizeof(double), "MBUCKETS_FAST_N");

const double mbuckets_request[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
                                   5,     10,   15,    20,   30,  45,   60};
_Static_assert(sizeof mbuckets_request == MBUCKETS_REQUEST_N * sizeof(double),
               "MBUCKETS_REQUEST_N");
