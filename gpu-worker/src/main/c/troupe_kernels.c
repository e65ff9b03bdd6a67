/*
 * Troupe's native int8 kernels, called from dev.troupe.engine.kernel.NativeInt8 through JNI.
 *
 * Q8_0 weights times activations quantized to int8 per block of 32 (a scale each), with AVX-512 VNNI integer
 * dot products: the route llama.cpp takes, which no FP32 kernel can match where the FP32 peak is below its int8
 * throughput (docs/benchmarks.md). What a (row, token) output is depends only on that row and that token:
 *
 *   out = sum over blocks b, in order, of fma: acc = fma((float) idot_b, dw_b * dx_b, acc)
 *
 * where idot_b is the exact integer dot product of the block's weights and quantized inputs. Integer sums are
 * exact in any order, so the kernels may split them; the float steps run in that one order for every batch
 * size and every split of rows, so a row's result never depends on its batch. NativeInt8Test checks this
 * arithmetic bit for bit against a Java transcription of it.
 *
 * Packed weights (see NativeKernels.packQ8): panels of P = 16 rows. A panel holds, for each block b,
 * P half-float scales ([blocks][P] fp16, padded to 64 bytes), then the quants [blocks][8][P][4] as
 * unsigned bytes q + 128: one 64-byte vector holds 4 consecutive columns of all 16 rows, so VPDPBUSD
 * multiplies it with 4 input bytes broadcast to every lane and adds each row's 4 products into its lane.
 * The +128 is taken back out with the input's block sum: sum (q + 128) * x = sum q * x + 128 * sum x.
 */
#include <jni.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#define P 16      /* rows per panel: one vector of 16 int32 or float lanes */
#define QB 32     /* values per Q8_0 block */
#define CHUNK 64  /* tokens whose inputs are quantized at once */
#define TILE 8    /* tokens multiplied with each block of a panel while it is in registers */

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

/* Quantized inputs of up to CHUNK tokens, per thread: quants [CHUNK][cols], scales and -128 * sums [CHUNK][blocks]. */
typedef struct {
    size_t cols;
    int8_t *q;
    float *d;
    int32_t *s;
} scratch_t;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void free_scratch(void *p) {
    scratch_t *s = p;
    free(s->q);
    free(s->d);
    free(s->s);
    free(s);
}

static void make_scratch_key(void) { pthread_key_create(&scratch_key, free_scratch); }

/* This thread's scratch for inputs of cols columns (grown when a wider matrix comes), or NULL when out of memory. */
static scratch_t *scratch_for(size_t cols) {
    pthread_once(&scratch_once, make_scratch_key);
    scratch_t *s = pthread_getspecific(scratch_key);
    if (s != NULL && s->cols >= cols) return s;
    if (s == NULL) {
        s = calloc(1, sizeof(scratch_t));
        if (s == NULL) return NULL;
        pthread_setspecific(scratch_key, s);
    }
    free(s->q);
    free(s->d);
    free(s->s);
    size_t blocks = cols / QB;
    s->q = aligned_alloc(64, CHUNK * cols);
    s->d = malloc(CHUNK * blocks * sizeof(float));
    s->s = malloc(CHUNK * blocks * sizeof(int32_t));
    if (s->q == NULL || s->d == NULL || s->s == NULL) {
        s->cols = 0;
        return NULL;
    }
    s->cols = cols;
    return s;
}

/* One token's inputs x[0, cols) as int8 blocks: d = max|x| / 127, q = x * (1 / d) rounded to nearest even. */
AVX512 static void quantize(const float *x, int blocks, int8_t *q, float *d, int32_t *s) {
    for (int b = 0; b < blocks; b++) {
        __m512 v0 = _mm512_loadu_ps(x + b * QB), v1 = _mm512_loadu_ps(x + b * QB + 16);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        float db = amax / 127.0f;
        float id = db != 0.0f ? 1.0f / db : 0.0f;
        __m512 vid = _mm512_set1_ps(id);
        __m512i i0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, vid)), i1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, vid));
        _mm_storeu_si128((__m128i *) (q + b * QB), _mm512_cvtsepi32_epi8(i0));
        _mm_storeu_si128((__m128i *) (q + b * QB + 16), _mm512_cvtsepi32_epi8(i1));
        d[b] = db;
        s[b] = -128 * _mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
    }
}

/*
 * One panel times nt (<= TILE) quantized tokens; out[t * outStride + lane] for lanes < rows. Inlined into one
 * copy per nt, so the accumulators live in registers.
 */
AVX512 static inline __attribute__((always_inline)) void panel_tokens(
        const uint8_t *panel, long scaleBytes, int blocks, const scratch_t *in, int t0, const int nt,
        float *out, long outStride, int rows) {
    const size_t cols = (size_t) blocks * QB;
    __m512 acc[TILE];
    for (int t = 0; t < nt; t++) acc[t] = _mm512_setzero_ps();
    for (int b = 0; b < blocks; b++) {
        __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *) (panel + (size_t) b * P * 2)));
        const __m512i *wq = (const __m512i *) (panel + scaleBytes + (size_t) b * QB * P);
        __m512i w0 = _mm512_load_si512(wq), w1 = _mm512_load_si512(wq + 1), w2 = _mm512_load_si512(wq + 2),
                w3 = _mm512_load_si512(wq + 3), w4 = _mm512_load_si512(wq + 4), w5 = _mm512_load_si512(wq + 5),
                w6 = _mm512_load_si512(wq + 6), w7 = _mm512_load_si512(wq + 7);
        for (int t = 0; t < nt; t++) {
            const int32_t *xb = (const int32_t *) (in->q + (t0 + t) * cols + (size_t) b * QB);
            size_t at = (size_t) (t0 + t) * blocks + b;
            /* two chains of four, so single tokens do not wait on one long chain; integer sums are exact */
            __m512i a = _mm512_set1_epi32(in->s[at]), c = _mm512_setzero_si512();
            a = _mm512_dpbusd_epi32(a, w0, _mm512_set1_epi32(xb[0]));
            c = _mm512_dpbusd_epi32(c, w1, _mm512_set1_epi32(xb[1]));
            a = _mm512_dpbusd_epi32(a, w2, _mm512_set1_epi32(xb[2]));
            c = _mm512_dpbusd_epi32(c, w3, _mm512_set1_epi32(xb[3]));
            a = _mm512_dpbusd_epi32(a, w4, _mm512_set1_epi32(xb[4]));
            c = _mm512_dpbusd_epi32(c, w5, _mm512_set1_epi32(xb[5]));
            a = _mm512_dpbusd_epi32(a, w6, _mm512_set1_epi32(xb[6]));
            c = _mm512_dpbusd_epi32(c, w7, _mm512_set1_epi32(xb[7]));
            __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(in->d[at]));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(a, c)), scale, acc[t]);
        }
    }
    __mmask16 mask = rows >= P ? (__mmask16) 0xFFFF : (__mmask16) ((1u << rows) - 1);
    for (int t = 0; t < nt; t++) _mm512_mask_storeu_ps(out + t * outStride, mask, acc[t]);
}

AVX512 static void panel_tile(const uint8_t *panel, long scaleBytes, int blocks, const scratch_t *in, int t0, int nt,
                              float *out, long outStride, int rows) {
    switch (nt) {
        case 1: panel_tokens(panel, scaleBytes, blocks, in, t0, 1, out, outStride, rows); break;
        case 2: panel_tokens(panel, scaleBytes, blocks, in, t0, 2, out, outStride, rows); break;
        case 3: panel_tokens(panel, scaleBytes, blocks, in, t0, 3, out, outStride, rows); break;
        case 4: panel_tokens(panel, scaleBytes, blocks, in, t0, 4, out, outStride, rows); break;
        case 5: panel_tokens(panel, scaleBytes, blocks, in, t0, 5, out, outStride, rows); break;
        case 6: panel_tokens(panel, scaleBytes, blocks, in, t0, 6, out, outStride, rows); break;
        case 7: panel_tokens(panel, scaleBytes, blocks, in, t0, 7, out, outStride, rows); break;
        default: panel_tokens(panel, scaleBytes, blocks, in, t0, TILE, out, outStride, rows); break;
    }
}

/* out[outOff + t * outStride + r] for r in [r0, r1) (r0 a multiple of P) and t < tokens. */
AVX512 static void q8_matmul(const uint8_t *panels, long panelBytes, int blocks, scratch_t *in,
                             const float *x, long xStride, int tokens, float *out, long outStride, int r0, int r1) {
    long scaleBytes = ((long) blocks * P * 2 + 63) / 64 * 64;
    for (int c0 = 0; c0 < tokens; c0 += CHUNK) {
        int n = tokens - c0 < CHUNK ? tokens - c0 : CHUNK;
        for (int t = 0; t < n; t++) {
            quantize(x + (c0 + t) * xStride, blocks, in->q + (size_t) t * blocks * QB, in->d + (size_t) t * blocks,
                     in->s + (size_t) t * blocks);
        }
        for (int r = r0; r < r1; r += P) {
            const uint8_t *panel = panels + (long) (r / P) * panelBytes;
            int rows = r1 - r < P ? r1 - r : P;
            for (int t = 0; t < n; t += TILE) {
                int nt = n - t < TILE ? n - t : TILE;
                panel_tile(panel, scaleBytes, blocks, in, t, nt, out + (c0 + t) * outStride + r, outStride, rows);
            }
        }
    }
}

/* 1 when this CPU and OS run the AVX-512 VNNI kernels, else 0. */
JNIEXPORT jint JNICALL Java_dev_troupe_engine_kernel_NativeInt8_cpuLevel(JNIEnv *env, jclass cls) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
           && __builtin_cpu_supports("avx512vnni") ? 1 : 0;
}

/* The address of a direct buffer's first byte. */
JNIEXPORT jlong JNICALL Java_dev_troupe_engine_kernel_NativeInt8_address(JNIEnv *env, jclass cls, jobject buffer) {
    return (jlong) (intptr_t) (*env)->GetDirectBufferAddress(env, buffer);
}

/* See NativeInt8.q8Matmul; the caller has checked every bound. */
JNIEXPORT void JNICALL Java_dev_troupe_engine_kernel_NativeInt8_q8Matmul(
        JNIEnv *env, jclass cls, jlong panels, jlong panelBytes, jint blocks, jfloatArray x, jint xOff, jint xStride,
        jint tokens, jfloatArray out, jint outOff, jint outStride, jint r0, jint r1) {
    scratch_t *in = scratch_for((size_t) blocks * QB);
    if (in == NULL) {
        jclass oom = (*env)->FindClass(env, "java/lang/OutOfMemoryError");
        if (oom != NULL) (*env)->ThrowNew(env, oom, "no native memory for the int8 kernels' input scratch");
        return;
    }
    float *xs = (*env)->GetPrimitiveArrayCritical(env, x, NULL);
    if (xs == NULL) return;   /* an OutOfMemoryError is pending */
    float *os = (*env)->GetPrimitiveArrayCritical(env, out, NULL);
    if (os == NULL) {
        (*env)->ReleasePrimitiveArrayCritical(env, x, xs, JNI_ABORT);
        return;
    }
    q8_matmul((const uint8_t *) (intptr_t) panels, panelBytes, blocks, in, xs + xOff, xStride, tokens, os + outOff,
              outStride, r0, r1);
    (*env)->ReleasePrimitiveArrayCritical(env, out, os, 0);
    (*env)->ReleasePrimitiveArrayCritical(env, x, xs, JNI_ABORT);
}
