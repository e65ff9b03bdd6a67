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
 * size and every split of rows, so a row's result never depends on its batch. NativeKernelsTest checks this
 * arithmetic bit for bit against a Java transcription of it.
 *
 * Packed weights (see NativeKernels.packQ8): panels of P = 16 rows. A panel holds, for each block b,
 * P half-float scales ([blocks][P] fp16, padded to 64 bytes), then the quants [blocks][8][P][4] as
 * unsigned bytes q + 128: one 64-byte vector holds 4 consecutive columns of all 16 rows, so VPDPBUSD
 * multiplies it with 4 input bytes broadcast to every lane and adds each row's 4 products into its lane.
 * The +128 is taken back out with the input's block sum: sum (q + 128) * x = sum q * x + 128 * sum x.
 *
 * K-quants (Q4_K, Q6_K: IntScaledCodec) keep integers down to the super-block of 256: an element is
 * a * sc[g] * u + b * mn[g] with unsigned quants u and per group g (32 or 16 columns) integer sc, mn. Inputs are
 * quantized per 256 (one scale dx, sums xs[g] per group), and a (row, token) output is
 *
 *   acc = fma((float) isum, a * dx, acc); acc = fma((float) msum, b * dx, acc)     super-block after super-block
 *
 * with the exact integers isum = sum_g sc[g] * (u . q)_g and msum = sum_g mn[g] * xs[g]. A panel of 16 rows holds,
 * per super-block: a[16] and b[16] floats; for Q4_K sc[8][16] and mn[4][16][2] signed bytes, then the quants two per
 * byte, [8][4][16][4] bytes each holding columns 8s + j (low nibble) and 8s + 4 + j (high) of its group; for Q6_K
 * sc[8][16][2] (pairs of groups, its mn being its sc), then per group [3][16][4] bytes: the low nibbles of columns
 * j and 4 + j, of 8 + j and 12 + j, and the high 2 bits of columns 4s + j at bits 2s, 2s + 1.
 */
#include <jni.h>
#include <immintrin.h>
#include <stdint.h>

#define P 16      /* rows per panel: one vector of 16 int32 or float lanes */
#define QB 32     /* values per Q8_0 block */
#define TILE 8    /* tokens multiplied with each block of a panel while it is in registers */
#ifndef PREFETCH
#define PREFETCH 8 /* K-quant super-blocks ahead that are prefetched (into L2, which tracks more misses than L1) */
#endif
#ifndef PREFETCH_Q8
#define PREFETCH_Q8 32 /* Q8_0 blocks ahead that are prefetched */
#endif
#ifndef PREFETCH_HINT
#define PREFETCH_HINT _MM_HINT_T1
#endif

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

/*
 * A matmul input quantized once for every thread and every row chunk (NativeInt8.quantize into StagedInput's
 * buffer), at one address: quants [tokens][cols], then for Q8_0 scales [tokens][cols / 32] (float) and
 * -128 * sums [tokens][cols / 32] (int32); for K-quants scales [tokens][cols / 256] (float) and the sums of each
 * 16 and of each 32 quants, [tokens][cols / 16] and [tokens][cols / 32] (int16).
 */
typedef struct {
    int8_t *q;
    float *d;
    int32_t *s;      /* Q8_0 */
    int16_t *s16;    /* K-quants */
    int16_t *s32;
} input_t;

static input_t input_at(intptr_t base, int kind, size_t tokens, size_t cols) {
    input_t in;
    in.q = (int8_t *) base;
    in.d = (float *) (base + tokens * cols);
    if (kind == 0) {
        in.s = (int32_t *) (in.d + tokens * (cols / QB));
        in.s16 = in.s32 = NULL;
    } else {
        in.s = NULL;
        in.s16 = (int16_t *) (in.d + tokens * (cols / 256));
        in.s32 = in.s16 + tokens * (cols / 16);
    }
    return in;
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

/* One token's inputs as int8 per super-block of 256 (d = max|x| / 127), with the sums of each 16 and each 32 quants. */
AVX512 static void quantize_k(const float *x, int superBlocks, int8_t *q, float *d, int16_t *s16, int16_t *s32) {
    for (int b = 0; b < superBlocks; b++) {
        const float *xb = x + b * 256;
        __m512 m = _mm512_setzero_ps();
        for (int i = 0; i < 256; i += 16) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(xb + i)));
        float amax = _mm512_reduce_max_ps(m);
        float db = amax / 127.0f;
        float id = db != 0.0f ? 1.0f / db : 0.0f;
        __m512 vid = _mm512_set1_ps(id);
        d[b] = db;
        for (int i = 0; i < 256; i += 16) {
            __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xb + i), vid));
            _mm_storeu_si128((__m128i *) (q + b * 256 + i), _mm512_cvtsepi32_epi8(v));
            int sum = _mm512_reduce_add_epi32(v);
            s16[(b * 256 + i) / 16] = (int16_t) sum;
            if (i % 32 == 0) s32[(b * 256 + i) / 32] = (int16_t) sum;
            else s32[(b * 256 + i) / 32] += (int16_t) sum;
        }
    }
}

/*
 * init plus the products of four or eight weight vectors (4 columns of 16 rows each, unsigned) with as many words of
 * 4 signed inputs broadcast to every lane, in two chains so that single tokens do not wait on one long chain
 * (integer sums are exact in any order).
 */
AVX512 static inline __attribute__((always_inline)) __m512i dot4(__m512i init, __m512i w0, __m512i w1, __m512i w2,
                                                                 __m512i w3, const int32_t *x4) {
    __m512i a = _mm512_dpbusd_epi32(init, w0, _mm512_set1_epi32(x4[0]));
    __m512i c = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w1, _mm512_set1_epi32(x4[1]));
    a = _mm512_dpbusd_epi32(a, w2, _mm512_set1_epi32(x4[2]));
    c = _mm512_dpbusd_epi32(c, w3, _mm512_set1_epi32(x4[3]));
    return _mm512_add_epi32(a, c);
}

AVX512 static inline __attribute__((always_inline)) __m512i dot8(__m512i init, __m512i w0, __m512i w1, __m512i w2,
                                                                 __m512i w3, __m512i w4, __m512i w5, __m512i w6,
                                                                 __m512i w7, const int32_t *x4) {
    return dot4(dot4(init, w0, w1, w2, w3, x4), w4, w5, w6, w7, x4 + 4);
}

/*
 * One panel times nt (<= TILE) quantized tokens; out[t * outStride + lane] for lanes < rows. Inlined into one
 * copy per nt, so the accumulators live in registers.
 */
AVX512 static inline __attribute__((always_inline)) void panel_tokens(
        const uint8_t *panel, long scaleBytes, int blocks, const input_t *in, int t0, const int nt,
        float *out, long outStride, int rows) {
    const size_t cols = (size_t) blocks * QB;
    __m512 acc[TILE];
    for (int t = 0; t < nt; t++) acc[t] = _mm512_setzero_ps();
    for (int b = 0; b < blocks; b++) {
        /* as in k_panel_tokens: the block PREFETCH_Q8 ahead (its scales come with the line of 64 blocks' scales) */
        for (int at = 0; at < QB * P; at += 64) _mm_prefetch((const char *) panel + scaleBytes + (size_t) (b + PREFETCH_Q8) * QB * P + at, PREFETCH_HINT);
        __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *) (panel + (size_t) b * P * 2)));
        const __m512i *wq = (const __m512i *) (panel + scaleBytes + (size_t) b * QB * P);
        __m512i w0 = _mm512_load_si512(wq), w1 = _mm512_load_si512(wq + 1), w2 = _mm512_load_si512(wq + 2),
                w3 = _mm512_load_si512(wq + 3), w4 = _mm512_load_si512(wq + 4), w5 = _mm512_load_si512(wq + 5),
                w6 = _mm512_load_si512(wq + 6), w7 = _mm512_load_si512(wq + 7);
        for (int t = 0; t < nt; t++) {
            const int32_t *xb = (const int32_t *) (in->q + (t0 + t) * cols + (size_t) b * QB);
            size_t at = (size_t) (t0 + t) * blocks + b;
            __m512i idot = dot8(_mm512_set1_epi32(in->s[at]), w0, w1, w2, w3, w4, w5, w6, w7, xb);
            __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(in->d[at]));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(idot), scale, acc[t]);
        }
    }
    __mmask16 mask = rows >= P ? (__mmask16) 0xFFFF : (__mmask16) ((1u << rows) - 1);
    for (int t = 0; t < nt; t++) _mm512_mask_storeu_ps(out + t * outStride, mask, acc[t]);
}

AVX512 static void panel_tile(const uint8_t *panel, long scaleBytes, int blocks, const input_t *in, int t0, int nt,
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

/*
 * One K-quant panel times nt (<= TILE) tokens: Q4_K (nibbles: G = 8 groups of 32 columns) or Q6_K (G = 16 of 16).
 * Inlined into one copy per (G, nibbles, nt).
 */
AVX512 static inline __attribute__((always_inline)) void k_panel_tokens(
        const uint8_t *panel, long chunkBytes, int superBlocks, const int G, const int nibbles, const input_t *in,
        int t0, const int nt, float *out, long outStride, int rows) {
    const size_t cols = (size_t) superBlocks * 256;
    const int gs = 256 / G;
    const int8_t *xq = in->q;
    const float *xd = in->d;
    const int16_t *xs = G == 16 ? in->s16 : in->s32;
    __m512 acc[TILE];
    for (int t = 0; t < nt; t++) acc[t] = _mm512_setzero_ps();
    for (int b = 0; b < superBlocks; b++) {
        const uint8_t *hdr = panel + (size_t) b * chunkBytes;
        /* Decode streams each weight once from DRAM: ask for it PREFETCH super-blocks ahead. */
        for (long at = 0; at < chunkBytes; at += 64) _mm_prefetch((const char *) hdr + PREFETCH * chunkBytes + at, PREFETCH_HINT);
        /* Q4_K: sc[8][16], then mn[4][16][2]; Q6_K: sc[8][16][2] serves as both (its mn is its sc) */
        const int8_t *sc = (const int8_t *) (hdr + 128), *mn = nibbles ? sc + G * P : sc;
        const __m512i *wq = (const __m512i *) (hdr + 384);
        __m512i isum[TILE];
        for (int t = 0; t < nt; t++) isum[t] = _mm512_setzero_si512();
        const __m512i low = _mm512_set1_epi8(0x0F);
        for (int g = 0; g < G; g++) {
            if (nibbles) {
                __m512i scg = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *) (sc + g * P)));
                const __m512i *w = wq + g * 4;
                __m512i v0 = _mm512_load_si512(w), v1 = _mm512_load_si512(w + 1), v2 = _mm512_load_si512(w + 2),
                        v3 = _mm512_load_si512(w + 3);
                __m512i l0 = _mm512_and_si512(v0, low), h0 = _mm512_and_si512(_mm512_srli_epi16(v0, 4), low);
                __m512i l1 = _mm512_and_si512(v1, low), h1 = _mm512_and_si512(_mm512_srli_epi16(v1, 4), low);
                __m512i l2 = _mm512_and_si512(v2, low), h2 = _mm512_and_si512(_mm512_srli_epi16(v2, 4), low);
                __m512i l3 = _mm512_and_si512(v3, low), h3 = _mm512_and_si512(_mm512_srli_epi16(v3, 4), low);
                for (int t = 0; t < nt; t++) {
                    const int32_t *x4 = (const int32_t *) (xq + (t0 + t) * cols + (size_t) b * 256 + g * gs);
                    __m512i idot = dot8(_mm512_setzero_si512(), l0, h0, l1, h1, l2, h2, l3, h3, x4);
                    isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(idot, scg));
                }
            } else {
                /* the group's scales: the low or high int16 of each lane's (sc[2p], sc[2p + 1]) pair */
                __m512i pair = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *) (sc + g / 2 * 2 * P)));
                __m512i scg = g % 2 == 0 ? _mm512_srai_epi32(_mm512_slli_epi32(pair, 16), 16) : _mm512_srai_epi32(pair, 16);
                /* 6-bit quants: low nibbles of steps 0, 1 and 2, 3 in two vectors, the high 2 bits of all four steps
                 * in a third (bits 2s, 2s + 1 of each byte for step s), put together as u = low | high << 4 */
                const __m512i *w = wq + g * 3;
                const __m512i top = _mm512_set1_epi8(0x30);
                __m512i n01 = _mm512_load_si512(w), n23 = _mm512_load_si512(w + 1), hb = _mm512_load_si512(w + 2);
                __m512i v0 = _mm512_or_si512(_mm512_and_si512(n01, low), _mm512_and_si512(_mm512_slli_epi16(hb, 4), top));
                __m512i v1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(n01, 4), low), _mm512_and_si512(_mm512_slli_epi16(hb, 2), top));
                __m512i v2 = _mm512_or_si512(_mm512_and_si512(n23, low), _mm512_and_si512(hb, top));
                __m512i v3 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(n23, 4), low), _mm512_and_si512(_mm512_srli_epi16(hb, 2), top));
                for (int t = 0; t < nt; t++) {
                    const int32_t *x4 = (const int32_t *) (xq + (t0 + t) * cols + (size_t) b * 256 + g * gs);
                    isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(dot4(_mm512_setzero_si512(), v0, v1, v2, v3, x4), scg));
                }
            }
        }
        __m512 fa = _mm512_load_ps((const float *) hdr), fb = _mm512_load_ps((const float *) (hdr + 64));
        for (int t = 0; t < nt; t++) {
            const int32_t *s2 = (const int32_t *) (xs + ((size_t) (t0 + t) * superBlocks + b) * G);
            __m512i msum = _mm512_setzero_si512();
            for (int p = 0; p < G / 2; p++) {
                __m512i mnp = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *) (mn + p * 2 * P)));
                msum = _mm512_dpwssd_epi32(msum, mnp, _mm512_set1_epi32(s2[p]));
            }
            __m512 dx = _mm512_set1_ps(xd[(size_t) (t0 + t) * superBlocks + b]);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(fa, dx), acc[t]);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_mul_ps(fb, dx), acc[t]);
        }
    }
    __mmask16 mask = rows >= P ? (__mmask16) 0xFFFF : (__mmask16) ((1u << rows) - 1);
    for (int t = 0; t < nt; t++) _mm512_mask_storeu_ps(out + t * outStride, mask, acc[t]);
}

#define K_TILE(G, NIB) \
    switch (nt) { \
        case 1: k_panel_tokens(panel, chunkBytes, superBlocks, G, NIB, in, t0, 1, out, outStride, rows); break; \
        case 2: k_panel_tokens(panel, chunkBytes, superBlocks, G, NIB, in, t0, 2, out, outStride, rows); break; \
        case 3: k_panel_tokens(panel, chunkBytes, superBlocks, G, NIB, in, t0, 3, out, outStride, rows); break; \
        case 4: k_panel_tokens(panel, chunkBytes, superBlocks, G, NIB, in, t0, 4, out, outStride, rows); break; \
        case 5: k_panel_tokens(panel, chunkBytes, superBlocks, G, NIB, in, t0, 5, out, outStride, rows); break; \
        case 6: k_panel_tokens(panel, chunkBytes, superBlocks, G, NIB, in, t0, 6, out, outStride, rows); break; \
        case 7: k_panel_tokens(panel, chunkBytes, superBlocks, G, NIB, in, t0, 7, out, outStride, rows); break; \
        default: k_panel_tokens(panel, chunkBytes, superBlocks, G, NIB, in, t0, TILE, out, outStride, rows); break; \
    }

AVX512 static void k_tile_q4(const uint8_t *panel, long chunkBytes, int superBlocks, const input_t *in, int t0, int nt,
                             float *out, long outStride, int rows) { K_TILE(8, 1) }

AVX512 static void k_tile_q6(const uint8_t *panel, long chunkBytes, int superBlocks, const input_t *in, int t0, int nt,
                             float *out, long outStride, int rows) { K_TILE(16, 0) }

/* The K-quant matmul: as q8_matmul, over panels of superBlocks chunks of chunkBytes each. */
AVX512 static void k_matmul(const uint8_t *panels, long chunkBytes, int superBlocks, int G, int nibbles, const input_t *in,
                            int tokens, float *out, long outStride, int r0, int r1) {
    long panelBytes = chunkBytes * superBlocks;
    for (int r = r0; r < r1; r += P) {
        const uint8_t *panel = panels + (long) (r / P) * panelBytes;
        int rows = r1 - r < P ? r1 - r : P;
        for (int t = 0; t < tokens; t += TILE) {
            int nt = tokens - t < TILE ? tokens - t : TILE;
            if (nibbles) k_tile_q4(panel, chunkBytes, superBlocks, in, t, nt, out + t * outStride + r, outStride, rows);
            else k_tile_q6(panel, chunkBytes, superBlocks, in, t, nt, out + t * outStride + r, outStride, rows);
        }
    }
}

/* out[t * outStride + r] for r in [r0, r1) (r0 a multiple of P) and t < tokens of a quantized input. */
AVX512 static void q8_matmul(const uint8_t *panels, long panelBytes, int blocks, const input_t *in, int tokens,
                             float *out, long outStride, int r0, int r1) {
    long scaleBytes = ((long) blocks * P * 2 + 63) / 64 * 64;
    for (int r = r0; r < r1; r += P) {
        const uint8_t *panel = panels + (long) (r / P) * panelBytes;
        int rows = r1 - r < P ? r1 - r : P;
        for (int t = 0; t < tokens; t += TILE) {
            int nt = tokens - t < TILE ? tokens - t : TILE;
            panel_tile(panel, scaleBytes, blocks, in, t, nt, out + t * outStride + r, outStride, rows);
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

/* See NativeInt8.quantize; the caller has checked every bound. */
JNIEXPORT void JNICALL Java_dev_troupe_engine_kernel_NativeInt8_quantize(
        JNIEnv *env, jclass cls, jint kind, jfloatArray x, jint xOff, jint xStride, jint tokens, jint cols, jlong dst) {
    float *xs = (*env)->GetPrimitiveArrayCritical(env, x, NULL);
    if (xs == NULL) return;   /* an OutOfMemoryError is pending */
    input_t in = input_at((intptr_t) dst, kind, tokens, cols);
    for (int t = 0; t < tokens; t++) {
        const float *row = xs + xOff + (size_t) t * xStride;
        if (kind == 0) {
            int blocks = cols / QB;
            quantize(row, blocks, in.q + (size_t) t * cols, in.d + (size_t) t * blocks, in.s + (size_t) t * blocks);
        } else {
            int sb = cols / 256;
            quantize_k(row, sb, in.q + (size_t) t * cols, in.d + (size_t) t * sb, in.s16 + (size_t) t * (cols / 16),
                       in.s32 + (size_t) t * (cols / 32));
        }
    }
    (*env)->ReleasePrimitiveArrayCritical(env, x, xs, JNI_ABORT);
}

/* See NativeInt8.q8Matmul; the caller has checked every bound. */
JNIEXPORT void JNICALL Java_dev_troupe_engine_kernel_NativeInt8_q8Matmul(
        JNIEnv *env, jclass cls, jlong panels, jlong panelBytes, jint blocks, jlong input, jint tokens,
        jfloatArray out, jint outOff, jint outStride, jint r0, jint r1) {
    float *os = (*env)->GetPrimitiveArrayCritical(env, out, NULL);
    if (os == NULL) return;
    input_t in = input_at((intptr_t) input, 0, tokens, (size_t) blocks * QB);
    q8_matmul((const uint8_t *) (intptr_t) panels, panelBytes, blocks, &in, tokens, os + outOff, outStride, r0, r1);
    (*env)->ReleasePrimitiveArrayCritical(env, out, os, 0);
}

/* See NativeInt8.kMatmul; the caller has checked every bound. */
JNIEXPORT void JNICALL Java_dev_troupe_engine_kernel_NativeInt8_kMatmul(
        JNIEnv *env, jclass cls, jlong panels, jlong chunkBytes, jint superBlocks, jint groups, jboolean nibbles,
        jlong input, jint tokens, jfloatArray out, jint outOff, jint outStride, jint r0, jint r1) {
    float *os = (*env)->GetPrimitiveArrayCritical(env, out, NULL);
    if (os == NULL) return;
    input_t in = input_at((intptr_t) input, 1, tokens, (size_t) superBlocks * 256);
    k_matmul((const uint8_t *) (intptr_t) panels, chunkBytes, superBlocks, groups, nibbles, &in, tokens, os + outOff,
             outStride, r0, r1);
    (*env)->ReleasePrimitiveArrayCritical(env, out, os, 0);
}
