/* fp32 FMA peak: independent FMA chains on N threads (harness/analysis/fmapeak.py).
   usage: fma_peak avx512|avx2 THREADS DURATION_S WARMUP_S REPEATS SEED
   SEED in (-0.59, 0), so that every chain of every thread starts in (-1, 0) */
#define _POSIX_C_SOURCE 200809L
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHAINS 16
#define MAX_REPEATS 64

typedef float (*kernel_fn)(long iters, float seed);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* x <- x * x + x: one register per chain, so 16 ymm accumulators fit the 16 ymm registers
   of AVX2 without a spill (a separate multiplier or addend would need a 17th). From a seed in
   (-1, 0) every chain rises towards 0 like -1/n and stalls near -6e-8: no overflow, no
   subnormals, whatever the duration. */
#define FMA16(fma)                                                                             \
    a0 = fma(a0, a0, a0); a1 = fma(a1, a1, a1); a2 = fma(a2, a2, a2); a3 = fma(a3, a3, a3);    \
    a4 = fma(a4, a4, a4); a5 = fma(a5, a5, a5); a6 = fma(a6, a6, a6); a7 = fma(a7, a7, a7);    \
    a8 = fma(a8, a8, a8); a9 = fma(a9, a9, a9); a10 = fma(a10, a10, a10);                      \
    a11 = fma(a11, a11, a11); a12 = fma(a12, a12, a12); a13 = fma(a13, a13, a13);              \
    a14 = fma(a14, a14, a14); a15 = fma(a15, a15, a15);

#define SUM16(add) \
    add(add(add(add(a0, a1), add(a2, a3)), add(add(a4, a5), add(a6, a7))), \
        add(add(add(a8, a9), add(a10, a11)), add(add(a12, a13), add(a14, a15))))

__attribute__((target("avx512f"), noinline))
static float chains_avx512(long iters, float seed) {
    __m512 a0 = _mm512_set1_ps(seed - 0.00f), a1 = _mm512_set1_ps(seed - 0.01f);
    __m512 a2 = _mm512_set1_ps(seed - 0.02f), a3 = _mm512_set1_ps(seed - 0.03f);
    __m512 a4 = _mm512_set1_ps(seed - 0.04f), a5 = _mm512_set1_ps(seed - 0.05f);
    __m512 a6 = _mm512_set1_ps(seed - 0.06f), a7 = _mm512_set1_ps(seed - 0.07f);
    __m512 a8 = _mm512_set1_ps(seed - 0.08f), a9 = _mm512_set1_ps(seed - 0.09f);
    __m512 a10 = _mm512_set1_ps(seed - 0.10f), a11 = _mm512_set1_ps(seed - 0.11f);
    __m512 a12 = _mm512_set1_ps(seed - 0.12f), a13 = _mm512_set1_ps(seed - 0.13f);
    __m512 a14 = _mm512_set1_ps(seed - 0.14f), a15 = _mm512_set1_ps(seed - 0.15f);
    for (long i = 0; i < iters; i++) {
        FMA16(_mm512_fmadd_ps)
    }
    float lanes[16];
    _mm512_storeu_ps(lanes, SUM16(_mm512_add_ps));
    float s = 0.0f;
    for (int i = 0; i < 16; i++) s += lanes[i];
    return s;
}

__attribute__((target("avx2,fma"), noinline))
static float chains_avx2(long iters, float seed) {
    __m256 a0 = _mm256_set1_ps(seed - 0.00f), a1 = _mm256_set1_ps(seed - 0.01f);
    __m256 a2 = _mm256_set1_ps(seed - 0.02f), a3 = _mm256_set1_ps(seed - 0.03f);
    __m256 a4 = _mm256_set1_ps(seed - 0.04f), a5 = _mm256_set1_ps(seed - 0.05f);
    __m256 a6 = _mm256_set1_ps(seed - 0.06f), a7 = _mm256_set1_ps(seed - 0.07f);
    __m256 a8 = _mm256_set1_ps(seed - 0.08f), a9 = _mm256_set1_ps(seed - 0.09f);
    __m256 a10 = _mm256_set1_ps(seed - 0.10f), a11 = _mm256_set1_ps(seed - 0.11f);
    __m256 a12 = _mm256_set1_ps(seed - 0.12f), a13 = _mm256_set1_ps(seed - 0.13f);
    __m256 a14 = _mm256_set1_ps(seed - 0.14f), a15 = _mm256_set1_ps(seed - 0.15f);
    for (long i = 0; i < iters; i++) {
        FMA16(_mm256_fmadd_ps)
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, SUM16(_mm256_add_ps));
    float s = 0.0f;
    for (int i = 0; i < 8; i++) s += lanes[i];
    return s;
}

typedef struct {
    int tid;
    long iters;
    double seconds[MAX_REPEATS];
    double checksum;
} job_t;

static kernel_fn kernel;
static int repeats;
static double duration_s, warmup_s;
static float seed0;
static pthread_barrier_t barrier;

static void *worker(void *arg) {
    job_t *job = arg;
    float seed = seed0 - 0.001f * (float)(job->tid % 256);
    double sum = 0.0;
    /* warm up, and measure this thread's rate with every other thread running */
    pthread_barrier_wait(&barrier);
    long chunk = 2000, done = 0;
    double t0 = now(), t;
    do {
        sum += kernel(chunk, seed);
        done += chunk;
        t = now();
    } while (t - t0 < warmup_s);
    long iters = (long)((double)done / (t - t0) * duration_s);
    job->iters = iters < 1 ? 1 : iters;
    for (int r = 0; r < repeats; r++) {
        pthread_barrier_wait(&barrier);
        double a = now();
        sum += kernel(job->iters, seed);
        job->seconds[r] = now() - a;
    }
    job->checksum = sum;
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: %s avx512|avx2 THREADS DURATION_S WARMUP_S REPEATS SEED\n",
                argv[0]);
        return 2;
    }
    const char *variant = argv[1];
    int lanes;
    if (strcmp(variant, "avx512") == 0) {
        kernel = chains_avx512;
        lanes = 16;
    } else if (strcmp(variant, "avx2") == 0) {
        kernel = chains_avx2;
        lanes = 8;
    } else {
        fprintf(stderr, "unknown variant %s: expected avx512 or avx2\n", variant);
        return 2;
    }
    int threads = atoi(argv[2]);
    duration_s = atof(argv[3]);
    warmup_s = atof(argv[4]);
    repeats = atoi(argv[5]);
    seed0 = (float)atof(argv[6]);
    if (threads < 1 || threads > 4096 || repeats < 1 || repeats > MAX_REPEATS || duration_s <= 0
        || !(seed0 > -0.59f && seed0 < 0.0f)) {
        fprintf(stderr, "bad arguments: threads 1..4096, repeats 1..%d, duration > 0, "
                "seed in (-0.59, 0)\n", MAX_REPEATS);
        return 2;
    }
    job_t *jobs = calloc((size_t)threads, sizeof(job_t));
    pthread_t *ids = calloc((size_t)threads, sizeof(pthread_t));
    if (!jobs || !ids || pthread_barrier_init(&barrier, NULL, (unsigned)threads) != 0) {
        fprintf(stderr, "out of memory or no barrier\n");
        return 1;
    }
    for (int i = 0; i < threads; i++) {
        jobs[i].tid = i;
        if (pthread_create(&ids[i], NULL, worker, &jobs[i]) != 0) {
            fprintf(stderr, "pthread_create failed for thread %d\n", i);
            return 1;
        }
    }
    for (int i = 0; i < threads; i++) pthread_join(ids[i], NULL);

    double flops_per_iter = (double)CHAINS * lanes * 2.0, flops = 0.0, checksum = 0.0;
    for (int i = 0; i < threads; i++) {
        flops += (double)jobs[i].iters * flops_per_iter;
        checksum += jobs[i].checksum;
    }
    double best = 0.0, best_seconds = 0.0;
    printf("{\"variant\": \"%s\", \"threads\": %d, \"repeats\": %d, \"duration_s\": %g, "
           "\"warmup_s\": %g, \"chains\": %d, \"lanes\": %d, \"flops\": %.17g, "
           "\"repeat_gflops\": [", variant, threads, repeats, duration_s, warmup_s, CHAINS,
           lanes, flops);
    for (int r = 0; r < repeats; r++) {
        double slowest = 0.0;
        for (int i = 0; i < threads; i++)
            if (jobs[i].seconds[r] > slowest) slowest = jobs[i].seconds[r];
        double gflops = slowest > 0.0 ? flops / slowest / 1e9 : 0.0;
        if (gflops > best) {
            best = gflops;
            best_seconds = slowest;
        }
        printf("%s%.6g", r ? ", " : "", gflops);
    }
    printf("], \"gflops\": %.6g, \"seconds\": %.6g, \"checksum\": %.9g}\n", best, best_seconds,
           checksum);
    return 0;
}
