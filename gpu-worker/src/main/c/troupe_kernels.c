/*
 * Troupe's native matmul kernels (int8 for Q8_0 and the K-quants, float for F16 and BF16 at the end), called from
 * dev.troupe.engine.kernel.NativeMatmul through JNI.
 *
 * Q8_0 weights times activations quantized to int8 per block of 32 (a scale each), with AVX-512 VNNI integer
 * dot products (or AVX2's, further down: the same numbers): the route llama.cpp takes, which no FP32 kernel can match where the FP32 peak is below its int8
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
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

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
#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define INLINE inline __attribute__((always_inline))

/* Kernel levels, as NativeMatmul names them. */
#define LEVEL_AVX2 1
#define LEVEL_AVX512_VNNI 2

/*
 * A matmul input quantized once for every thread and every row chunk (NativeMatmul.quantize into StagedInput's
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
AVX512 static void quantize_512(const float *x, int blocks, int8_t *q, float *d, int32_t *s) {
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
AVX512 static void quantize_k_512(const float *x, int superBlocks, int8_t *q, float *d, int16_t *s16, int16_t *s32) {
    for (int b = 0; b < superBlocks; b++) {
        const float *xb = x + b * 256;
        __m512 m = _mm512_setzero_ps();
        for (int i = 0; i < 256; i += 16) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(xb + i)));
        float amax = _mm512_reduce_max_ps(m);
        float db = amax / 127.0f;
        float id = db != 0.0f ? 1.0f / db : 0.0f;
        __m512 vid = _mm512_set1_ps(id);
        d[b] = db;
        for (int i = 0; i < 256; i += 32) {
            __m512i v0 = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xb + i), vid));
            __m512i v1 = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xb + i + 16), vid));
            _mm_storeu_si128((__m128i *) (q + b * 256 + i), _mm512_cvtsepi32_epi8(v0));
            _mm_storeu_si128((__m128i *) (q + b * 256 + i + 16), _mm512_cvtsepi32_epi8(v1));
            int sum0 = _mm512_reduce_add_epi32(v0), sum1 = _mm512_reduce_add_epi32(v1);
            s16[(b * 256 + i) / 16] = (int16_t) sum0;
            s16[(b * 256 + i) / 16 + 1] = (int16_t) sum1;
            s32[(b * 256 + i) / 32] = (int16_t) (sum0 + sum1);
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


/*
 * The AVX2 kernels, for CPUs without AVX-512 VNNI: the same arithmetic, bit for bit, in 8-lane halves of each
 * 16-row panel. VPMADDUBSW multiplies unsigned by signed bytes into saturating int16 pair sums, so the integer
 * dot products are kept below saturation: Q8_0 panels hold signed quants q (packed without the +128) and
 * multiply |q| by x with q's sign (|q| <= 128, |x| <= 127: a pair sum <= 32512); K-quant quants are small
 * (u <= 15 or 63) and up to 8 (Q4_K) or 2 (Q6_K) pair sums are added as int16 before VPMADDWD widens them,
 * multiplied by the group's scale in the same instruction.
 */

/* The max of |x| over the 8 lanes of m (exact in any order). */
AVX2 static INLINE float hmax8(__m256 m) {
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

AVX2 static INLINE int hsum8i(__m256i v) {
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4E));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xB1));
    return _mm_cvtsi128_si32(h);
}

/* 16 floats times id, rounded to nearest even, to 16 bytes at q (saturating); returns their sum. */
AVX2 static INLINE int quantize16(const float *x, __m256 id, int8_t *q) {
    __m256i a = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), id));
    __m256i b = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), id));
    __m256i p = _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xD8);   /* a0..7 b0..7 as int16 */
    _mm_storeu_si128((__m128i *) q, _mm_packs_epi16(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1)));
    return hsum8i(_mm256_add_epi32(a, b));
}

/* max |x[i]| for i < n (a multiple of 8). */
AVX2 static INLINE float absmax(const float *x, int n) {
    const __m256 abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    __m256 m = _mm256_and_ps(_mm256_loadu_ps(x), abs);
    for (int i = 8; i < n; i += 8) m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(x + i), abs));
    return hmax8(m);
}

AVX2 static void quantize_avx2(const float *x, int blocks, int8_t *q, float *d, int32_t *s) {
    for (int b = 0; b < blocks; b++) {
        const float *xb = x + b * QB;
        float db = absmax(xb, QB) / 127.0f;
        __m256 id = _mm256_set1_ps(db != 0.0f ? 1.0f / db : 0.0f);
        d[b] = db;
        s[b] = -128 * (quantize16(xb, id, q + b * QB) + quantize16(xb + 16, id, q + b * QB + 16));
    }
}

AVX2 static void quantize_k_avx2(const float *x, int superBlocks, int8_t *q, float *d, int16_t *s16, int16_t *s32) {
    for (int b = 0; b < superBlocks; b++) {
        const float *xb = x + b * 256;
        float db = absmax(xb, 256) / 127.0f;
        __m256 id = _mm256_set1_ps(db != 0.0f ? 1.0f / db : 0.0f);
        d[b] = db;
        for (int i = 0; i < 256; i += 32) {
            int sum0 = quantize16(xb + i, id, q + b * 256 + i), sum1 = quantize16(xb + i + 16, id, q + b * 256 + i + 16);
            s16[(b * 256 + i) / 16] = (int16_t) sum0;
            s16[(b * 256 + i) / 16 + 1] = (int16_t) sum1;
            s32[(b * 256 + i) / 32] = (int16_t) (sum0 + sum1);
        }
    }
}

/* Rows [0, rows) of the two 8-row halves of nt tokens' results to out[t * outStride ..]. */
AVX2 static INLINE void store_rows(const __m256 *lo, const __m256 *hi, int nt, float *out, long outStride, int rows) {
    if (rows >= P) {
        for (int t = 0; t < nt; t++) {
            _mm256_storeu_ps(out + t * outStride, lo[t]);
            _mm256_storeu_ps(out + t * outStride + 8, hi[t]);
        }
        return;
    }
    float tmp[P];
    for (int t = 0; t < nt; t++) {
        _mm256_storeu_ps(tmp, lo[t]);
        _mm256_storeu_ps(tmp + 8, hi[t]);
        for (int r = 0; r < rows; r++) out[t * outStride + r] = tmp[r];
    }
}

#define TILE2 4   /* tokens per tile in the AVX2 kernels (16 registers) */

/* One Q8_0 panel (signed quants) times nt (<= TILE2) quantized tokens, as panel_tokens. */
AVX2 static INLINE void panel_tokens_avx2(
        const uint8_t *panel, long scaleBytes, int blocks, const input_t *in, int t0, const int nt,
        float *out, long outStride, int rows) {
    const size_t cols = (size_t) blocks * QB;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 lo[TILE2], hi[TILE2];
    for (int t = 0; t < nt; t++) lo[t] = hi[t] = _mm256_setzero_ps();
    for (int b = 0; b < blocks; b++) {
        for (int at = 0; at < QB * P; at += 64) _mm_prefetch((const char *) panel + scaleBytes + (size_t) (b + PREFETCH_Q8) * QB * P + at, PREFETCH_HINT);
        const uint8_t *sc = panel + (size_t) b * P * 2;
        __m256 dlo = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) sc)), dhi = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (sc + 16)));
        const __m256i *wq = (const __m256i *) (panel + scaleBytes + (size_t) b * QB * P);
        __m256i ilo[TILE2], ihi[TILE2];
        for (int t = 0; t < nt; t++) ilo[t] = ihi[t] = _mm256_setzero_si256();
        /* 4 columns of the 16 rows at a time, their magnitudes taken once for every token */
        for (int k = 0; k < 8; k++) {
            __m256i wl = _mm256_load_si256(wq + 2 * k), wh = _mm256_load_si256(wq + 2 * k + 1);
            __m256i al = _mm256_abs_epi8(wl), ah = _mm256_abs_epi8(wh);
            for (int t = 0; t < nt; t++) {
                __m256i x = _mm256_set1_epi32(((const int32_t *) (in->q + (t0 + t) * cols + (size_t) b * QB))[k]);
                ilo[t] = _mm256_add_epi32(ilo[t], _mm256_madd_epi16(_mm256_maddubs_epi16(al, _mm256_sign_epi8(x, wl)), ones));
                ihi[t] = _mm256_add_epi32(ihi[t], _mm256_madd_epi16(_mm256_maddubs_epi16(ah, _mm256_sign_epi8(x, wh)), ones));
            }
        }
        for (int t = 0; t < nt; t++) {
            __m256 dx = _mm256_set1_ps(in->d[(size_t) (t0 + t) * blocks + b]);
            lo[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ilo[t]), _mm256_mul_ps(dlo, dx), lo[t]);
            hi[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ihi[t]), _mm256_mul_ps(dhi, dx), hi[t]);
        }
    }
    store_rows(lo, hi, nt, out, outStride, rows);
}

AVX2 static void panel_tile_avx2(const uint8_t *panel, long scaleBytes, int blocks, const input_t *in, int t0, int nt,
                                 float *out, long outStride, int rows) {
    switch (nt) {
        case 1: panel_tokens_avx2(panel, scaleBytes, blocks, in, t0, 1, out, outStride, rows); break;
        case 2: panel_tokens_avx2(panel, scaleBytes, blocks, in, t0, 2, out, outStride, rows); break;
        case 3: panel_tokens_avx2(panel, scaleBytes, blocks, in, t0, 3, out, outStride, rows); break;
        default: panel_tokens_avx2(panel, scaleBytes, blocks, in, t0, TILE2, out, outStride, rows); break;
    }
}

/*
 * A group's int8 scales of the 16 rows in both int16 halves of each row's int32 (VPMADDWD multipliers), rows 0-7 to
 * lo and 8-15 to hi: Q4_K's sc[g][16] (16 bytes), or Q6_K's pairs [g / 2][16][2] (32 bytes, the even or odd one).
 */
AVX2 static INLINE void scale_pairs(const int8_t *sc, int nibbles, int odd, __m256i *lo, __m256i *hi) {
    if (nibbles) {
        __m256i v = _mm256_permute4x64_epi64(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) sc)), 0xD8);
        *lo = _mm256_unpacklo_epi16(v, v);
        *hi = _mm256_unpackhi_epi16(v, v);
    } else {
        __m256i l = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) sc));
        __m256i h = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (sc + 16)));
        if (odd) {
            *lo = _mm256_shufflehi_epi16(_mm256_shufflelo_epi16(l, 0xF5), 0xF5);
            *hi = _mm256_shufflehi_epi16(_mm256_shufflelo_epi16(h, 0xF5), 0xF5);
        } else {
            *lo = _mm256_shufflehi_epi16(_mm256_shufflelo_epi16(l, 0xA0), 0xA0);
            *hi = _mm256_shufflehi_epi16(_mm256_shufflelo_epi16(h, 0xA0), 0xA0);
        }
    }
}

/* One K-quant panel times nt (<= TILE2) tokens, as k_panel_tokens. */
AVX2 static INLINE void k_panel_tokens_avx2(
        const uint8_t *panel, long chunkBytes, int superBlocks, const int G, const int nibbles, const input_t *in,
        int t0, const int nt, float *out, long outStride, int rows) {
    const size_t cols = (size_t) superBlocks * 256;
    const int gs = 256 / G;
    const int16_t *xs = G == 16 ? in->s16 : in->s32;
    const __m256i low = _mm256_set1_epi8(0x0F), top = _mm256_set1_epi8(0x30);
    __m256 lo[TILE2], hi[TILE2];
    for (int t = 0; t < nt; t++) lo[t] = hi[t] = _mm256_setzero_ps();
    for (int b = 0; b < superBlocks; b++) {
        const uint8_t *hdr = panel + (size_t) b * chunkBytes;
        for (long at = 0; at < chunkBytes; at += 64) _mm_prefetch((const char *) hdr + PREFETCH * chunkBytes + at, PREFETCH_HINT);
        const int8_t *sc = (const int8_t *) (hdr + 128), *mn = nibbles ? sc + G * P : sc;
        const __m256i *wq = (const __m256i *) (hdr + 384);
        __m256i ilo[TILE2], ihi[TILE2];
        for (int t = 0; t < nt; t++) ilo[t] = ihi[t] = _mm256_setzero_si256();
        for (int g = 0; g < G; g++) {
            __m256i slo, shi;
            scale_pairs(nibbles ? sc + g * P : sc + g / 2 * 2 * P, nibbles, g % 2, &slo, &shi);
            const int8_t *xg = in->q + (size_t) t0 * cols + (size_t) b * 256 + g * gs;
            if (nibbles) {
                /* 8 pair sums of u <= 15 stay below 32767: added as int16. 8 columns of the 16 rows at a time,
                 * unpacked once for every token. */
                __m256i plo[TILE2], phi[TILE2];
                for (int t = 0; t < nt; t++) plo[t] = phi[t] = _mm256_setzero_si256();
                for (int s = 0; s < 4; s++) {
                    __m256i vl = _mm256_load_si256(wq + (g * 4 + s) * 2), vh = _mm256_load_si256(wq + (g * 4 + s) * 2 + 1);
                    __m256i ll = _mm256_and_si256(vl, low), hl = _mm256_and_si256(_mm256_srli_epi16(vl, 4), low);
                    __m256i lh = _mm256_and_si256(vh, low), hh = _mm256_and_si256(_mm256_srli_epi16(vh, 4), low);
                    for (int t = 0; t < nt; t++) {
                        const int32_t *x4 = (const int32_t *) (xg + t * cols);
                        __m256i xl = _mm256_set1_epi32(x4[2 * s]), xh = _mm256_set1_epi32(x4[2 * s + 1]);
                        plo[t] = _mm256_add_epi16(plo[t], _mm256_add_epi16(_mm256_maddubs_epi16(ll, xl), _mm256_maddubs_epi16(hl, xh)));
                        phi[t] = _mm256_add_epi16(phi[t], _mm256_add_epi16(_mm256_maddubs_epi16(lh, xl), _mm256_maddubs_epi16(hh, xh)));
                    }
                }
                for (int t = 0; t < nt; t++) {
                    ilo[t] = _mm256_add_epi32(ilo[t], _mm256_madd_epi16(plo[t], slo));
                    ihi[t] = _mm256_add_epi32(ihi[t], _mm256_madd_epi16(phi[t], shi));
                }
            } else {
                /* 2 pair sums of u <= 63 stay below 32767. Each half's 16 columns unpacked once for every token. */
                for (int h = 0; h < 2; h++) {
                    const __m256i *w = wq + g * 6 + h;
                    __m256i n01 = _mm256_load_si256(w), n23 = _mm256_load_si256(w + 2), hb = _mm256_load_si256(w + 4);
                    __m256i v0 = _mm256_or_si256(_mm256_and_si256(n01, low), _mm256_and_si256(_mm256_slli_epi16(hb, 4), top));
                    __m256i v1 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(n01, 4), low), _mm256_and_si256(_mm256_slli_epi16(hb, 2), top));
                    __m256i v2 = _mm256_or_si256(_mm256_and_si256(n23, low), _mm256_and_si256(hb, top));
                    __m256i v3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(n23, 4), low), _mm256_and_si256(_mm256_srli_epi16(hb, 2), top));
                    __m256i sch = h == 0 ? slo : shi;
                    for (int t = 0; t < nt; t++) {
                        const int32_t *x4 = (const int32_t *) (xg + t * cols);
                        __m256i p01 = _mm256_add_epi16(_mm256_maddubs_epi16(v0, _mm256_set1_epi32(x4[0])), _mm256_maddubs_epi16(v1, _mm256_set1_epi32(x4[1])));
                        __m256i p23 = _mm256_add_epi16(_mm256_maddubs_epi16(v2, _mm256_set1_epi32(x4[2])), _mm256_maddubs_epi16(v3, _mm256_set1_epi32(x4[3])));
                        __m256i d = _mm256_add_epi32(_mm256_madd_epi16(p01, sch), _mm256_madd_epi16(p23, sch));
                        if (h == 0) ilo[t] = _mm256_add_epi32(ilo[t], d);
                        else ihi[t] = _mm256_add_epi32(ihi[t], d);
                    }
                }
            }
        }
        __m256 alo = _mm256_load_ps((const float *) hdr), ahi = _mm256_load_ps((const float *) hdr + 8);
        __m256 blo = _mm256_load_ps((const float *) (hdr + 64)), bhi = _mm256_load_ps((const float *) (hdr + 64) + 8);
        for (int t = 0; t < nt; t++) {
            const int32_t *s2 = (const int32_t *) (xs + ((size_t) (t0 + t) * superBlocks + b) * G);
            __m256i mlo = _mm256_setzero_si256(), mhi = _mm256_setzero_si256();
            for (int p = 0; p < G / 2; p++) {
                __m256i x = _mm256_set1_epi32(s2[p]);
                const int8_t *mp = mn + p * 2 * P;
                mlo = _mm256_add_epi32(mlo, _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) mp)), x));
                mhi = _mm256_add_epi32(mhi, _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (mp + 16))), x));
            }
            __m256 dx = _mm256_set1_ps(in->d[(size_t) (t0 + t) * superBlocks + b]);
            lo[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ilo[t]), _mm256_mul_ps(alo, dx), lo[t]);
            lo[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mlo), _mm256_mul_ps(blo, dx), lo[t]);
            hi[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ihi[t]), _mm256_mul_ps(ahi, dx), hi[t]);
            hi[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mhi), _mm256_mul_ps(bhi, dx), hi[t]);
        }
    }
    store_rows(lo, hi, nt, out, outStride, rows);
}

#define K_TILE2(G, NIB) \
    switch (nt) { \
        case 1: k_panel_tokens_avx2(panel, chunkBytes, superBlocks, G, NIB, in, t0, 1, out, outStride, rows); break; \
        case 2: k_panel_tokens_avx2(panel, chunkBytes, superBlocks, G, NIB, in, t0, 2, out, outStride, rows); break; \
        case 3: k_panel_tokens_avx2(panel, chunkBytes, superBlocks, G, NIB, in, t0, 3, out, outStride, rows); break; \
        default: k_panel_tokens_avx2(panel, chunkBytes, superBlocks, G, NIB, in, t0, TILE2, out, outStride, rows); break; \
    }

AVX2 static void k_tile_q4_avx2(const uint8_t *panel, long chunkBytes, int superBlocks, const input_t *in, int t0, int nt,
                                float *out, long outStride, int rows) { K_TILE2(8, 1) }

AVX2 static void k_tile_q6_avx2(const uint8_t *panel, long chunkBytes, int superBlocks, const input_t *in, int t0, int nt,
                                float *out, long outStride, int rows) { K_TILE2(16, 0) }

/* The K-quant matmul: as q8_matmul, over panels of superBlocks chunks of chunkBytes each; level 2 or 1. */
static void k_matmul(int level, const uint8_t *panels, long chunkBytes, int superBlocks, int G, int nibbles, const input_t *in,
                     int tokens, float *out, long outStride, int r0, int r1) {
    long panelBytes = chunkBytes * superBlocks;
    int tile = level == LEVEL_AVX512_VNNI ? TILE : TILE2;
    for (int r = r0; r < r1; r += P) {
        const uint8_t *panel = panels + (long) (r / P) * panelBytes;
        int rows = r1 - r < P ? r1 - r : P;
        for (int t = 0; t < tokens; t += tile) {
            int nt = tokens - t < tile ? tokens - t : tile;
            float *o = out + t * outStride + r;
            if (level == LEVEL_AVX512_VNNI) {
                if (nibbles) k_tile_q4(panel, chunkBytes, superBlocks, in, t, nt, o, outStride, rows);
                else k_tile_q6(panel, chunkBytes, superBlocks, in, t, nt, o, outStride, rows);
            } else {
                if (nibbles) k_tile_q4_avx2(panel, chunkBytes, superBlocks, in, t, nt, o, outStride, rows);
                else k_tile_q6_avx2(panel, chunkBytes, superBlocks, in, t, nt, o, outStride, rows);
            }
        }
    }
}

/*
 * out[t * outStride + r] for r in [r0, r1) (r0 a multiple of P) and t < tokens of a quantized input, with the
 * level 2 (AVX-512 VNNI, quants + 128) or level 1 (AVX2, signed quants) kernels.
 */
static void q8_matmul(int level, const uint8_t *panels, long panelBytes, int blocks, const input_t *in, int tokens,
                      float *out, long outStride, int r0, int r1) {
    long scaleBytes = ((long) blocks * P * 2 + 63) / 64 * 64;
    int tile = level == LEVEL_AVX512_VNNI ? TILE : TILE2;
    for (int r = r0; r < r1; r += P) {
        const uint8_t *panel = panels + (long) (r / P) * panelBytes;
        int rows = r1 - r < P ? r1 - r : P;
        for (int t = 0; t < tokens; t += tile) {
            int nt = tokens - t < tile ? tokens - t : tile;
            if (level == LEVEL_AVX512_VNNI) panel_tile(panel, scaleBytes, blocks, in, t, nt, out + t * outStride + r, outStride, rows);
            else panel_tile_avx2(panel, scaleBytes, blocks, in, t, nt, out + t * outStride + r, outStride, rows);
        }
    }
}

/*
 * F16 and BF16 weights (NativeKernels.packHalf): panels of P = 16 rows, [cols][P] 16-bit values as the file has
 * them, widened exactly as they are loaded, times float inputs read as they are (nothing is quantized). A
 * (row, token) output is the dot product in column order, one fma after another from zero:
 *
 *   acc = fma(w[c], x[c], acc)     for c = 0, 1, ..., cols - 1
 *
 * whatever the tile, the batch or the split of rows. The tiles find their parallelism in several panels and several
 * tokens at once (independent chains), never by splitting a row's sum.
 */
#ifndef PREFETCH_H16
#define PREFETCH_H16 64      /* columns ahead of each panel's stream that are prefetched for one to three tokens */
#endif
#ifndef PREFETCH_H16_WIDE
#define PREFETCH_H16_WIDE 512 /* and for more: a tile of tokens takes longer over each column */
#endif
#define TILE_H 8          /* tokens per tile, AVX-512 (12 measured no better: the 64-token matmul 0.75x) */
#define TILE_H2 6         /* tokens per tile, AVX2 */

AVX512 static INLINE __m512 widen16(const uint16_t *h, const int bf16) {
    __m256i v = _mm256_load_si256((const __m256i *) h);
    return bf16 ? _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16)) : _mm512_cvtph_ps(v);
}

/*
 * R consecutive panels times nt tokens; rows (<= R * P, > (R - 1) * P) of results to out[t * outStride ..]. The
 * panels' columns pf ahead are prefetched (none when pf is 0: they are in cache from the tile before).
 */
AVX512 static INLINE void h16_tokens(const uint16_t *panel, int cols, const int bf16, const int R, int pf, const float *x,
                                     long xStride, const int nt, float *out, long outStride, int rows) {
    const size_t stride = (size_t) cols * P;
    __m512 acc[4][TILE_H];   /* fixed sizes: arrays sized by R and nt (constant only once inlined) stayed in memory */
    for (int r = 0; r < R; r++) for (int t = 0; t < nt; t++) acc[r][t] = _mm512_setzero_ps();
    for (int c = 0; c < cols; c++) {
        if (pf && c % 2 == 0) for (int r = 0; r < R; r++) _mm_prefetch((const char *) (panel + r * stride + (size_t) (c + pf) * P), PREFETCH_HINT);
        for (int r = 0; r < R; r++) {
            __m512 w = widen16(panel + r * stride + (size_t) c * P, bf16);
            for (int t = 0; t < nt; t++) acc[r][t] = _mm512_fmadd_ps(w, _mm512_set1_ps(x[t * xStride + c]), acc[r][t]);
        }
    }
    for (int r = 0; r < R; r++) {
        int n = rows - r * P;
        __mmask16 mask = n >= P ? (__mmask16) 0xFFFF : (__mmask16) ((1u << n) - 1);
        for (int t = 0; t < nt; t++) _mm512_mask_storeu_ps(out + t * outStride + r * P, mask, acc[r][t]);
    }
}

#define H16_CASE(FN, R, BF, N) case N: FN(panel, cols, BF, R, pf, x, xStride, N, out, outStride, rows); break;
#define H16_UP_TO_3(FN, R, BF) H16_CASE(FN, R, BF, 1) H16_CASE(FN, R, BF, 2) H16_CASE(FN, R, BF, 3)
#define H16_UP_TO_6(FN, R, BF) H16_UP_TO_3(FN, R, BF) H16_CASE(FN, R, BF, 4) H16_CASE(FN, R, BF, 5) H16_CASE(FN, R, BF, 6)
#define H16_UP_TO_8(FN, R, BF) H16_UP_TO_6(FN, R, BF) H16_CASE(FN, R, BF, 7) H16_CASE(FN, R, BF, 8)

/* One instance per (R, nt, type) that h16_matmul calls: four panels for up to 3 tokens, one or two for up to 8. */
AVX512 static void h16_tile(const uint16_t *panel, int cols, int bf16, int R, int pf, const float *x, long xStride, int nt,
                            float *out, long outStride, int rows) {
    if (bf16) {
        if (R == 4) { switch (nt) { H16_UP_TO_3(h16_tokens, 4, 1) } }
        else if (R == 2) { switch (nt) { H16_UP_TO_8(h16_tokens, 2, 1) } }
        else { switch (nt) { H16_UP_TO_8(h16_tokens, 1, 1) } }
    } else {
        if (R == 4) { switch (nt) { H16_UP_TO_3(h16_tokens, 4, 0) } }
        else if (R == 2) { switch (nt) { H16_UP_TO_8(h16_tokens, 2, 0) } }
        else { switch (nt) { H16_UP_TO_8(h16_tokens, 1, 0) } }
    }
}

AVX2 static INLINE __m256 widen8(const uint16_t *h, const int bf16) {
    __m128i v = _mm_load_si128((const __m128i *) h);
    return bf16 ? _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(v), 16)) : _mm256_cvtph_ps(v);
}

/* As h16_tokens, each panel in two 8-row halves: R * 2 * nt <= 12 accumulators of the 16 registers. */
AVX2 static INLINE void h16_tokens_avx2(const uint16_t *panel, int cols, const int bf16, const int R, int pf, const float *x,
                                        long xStride, const int nt, float *out, long outStride, int rows) {
    const size_t stride = (size_t) cols * P;
    __m256 lo[4][TILE_H2], hi[4][TILE_H2];
    for (int r = 0; r < R; r++) for (int t = 0; t < nt; t++) lo[r][t] = hi[r][t] = _mm256_setzero_ps();
    for (int c = 0; c < cols; c++) {
        if (pf && c % 2 == 0) for (int r = 0; r < R; r++) _mm_prefetch((const char *) (panel + r * stride + (size_t) (c + pf) * P), PREFETCH_HINT);
        for (int r = 0; r < R; r++) {
            const uint16_t *h = panel + r * stride + (size_t) c * P;
            __m256 wl = widen8(h, bf16), wh = widen8(h + 8, bf16);
            for (int t = 0; t < nt; t++) {
                __m256 xb = _mm256_broadcast_ss(x + t * xStride + c);
                lo[r][t] = _mm256_fmadd_ps(wl, xb, lo[r][t]);
                hi[r][t] = _mm256_fmadd_ps(wh, xb, hi[r][t]);
            }
        }
    }
    for (int r = 0; r < R; r++) store_rows(lo[r], hi[r], nt, out + r * P, outStride, rows - r * P);
}

/* As h16_tile: four panels for one token, two for up to 3, one for up to 6. */
AVX2 static void h16_tile_avx2(const uint16_t *panel, int cols, int bf16, int R, int pf, const float *x, long xStride, int nt,
                               float *out, long outStride, int rows) {
    if (bf16) {
        if (R == 4) { switch (nt) { H16_CASE(h16_tokens_avx2, 4, 1, 1) } }
        else if (R == 2) { switch (nt) { H16_UP_TO_3(h16_tokens_avx2, 2, 1) } }
        else { switch (nt) { H16_UP_TO_6(h16_tokens_avx2, 1, 1) } }
    } else {
        if (R == 4) { switch (nt) { H16_CASE(h16_tokens_avx2, 4, 0, 1) } }
        else if (R == 2) { switch (nt) { H16_UP_TO_3(h16_tokens_avx2, 2, 0) } }
        else { switch (nt) { H16_UP_TO_6(h16_tokens_avx2, 1, 0) } }
    }
}

/*
 * out[t * outStride + r] = sum_c W[r][c] * x[t * xStride + c] for r in [r0, r1) (r0 a multiple of P), t < tokens.
 * Rows outer, so a group of panels stays in cache for every tile of tokens. Panels per group: as many as the
 * registers hold accumulators for with the batch's tile of tokens (more independent chains for small batches).
 */
static void h16_matmul(int level, const uint16_t *panels, int cols, int bf16, const float *x, long xStride, int tokens,
                       float *out, long outStride, int r0, int r1) {
    int avx512 = level == LEVEL_AVX512_VNNI, tile = avx512 ? TILE_H : TILE_H2;
    int full = tokens < tile ? tokens : tile;
    int group = avx512 ? (full >= 4 ? 2 : 4) : (full >= 4 ? 1 : full >= 2 ? 2 : 4);
    for (int r = r0; r < r1; ) {
        int left = (r1 - r + P - 1) / P;
        int R = group <= left ? group : left >= 2 ? 2 : 1;
        int rows = r1 - r < R * P ? r1 - r : R * P;
        const uint16_t *panel = panels + (size_t) (r / P) * cols * P;
        for (int t = 0; t < tokens; t += tile) {
            int nt = tokens - t < tile ? tokens - t : tile;
            int pf = t > 0 ? 0 : full >= 4 ? PREFETCH_H16_WIDE : PREFETCH_H16;
            if (avx512) h16_tile(panel, cols, bf16, R, pf, x + (size_t) t * xStride, xStride, nt, out + (size_t) t * outStride + r, outStride, rows);
            else h16_tile_avx2(panel, cols, bf16, R, pf, x + (size_t) t * xStride, xStride, nt, out + (size_t) t * outStride + r, outStride, rows);
        }
        r += R * P;
    }
}

/* LEVEL_AVX512_VNNI or LEVEL_AVX2 when this CPU and OS run those kernels, else 0. */
JNIEXPORT jint JNICALL Java_dev_troupe_engine_kernel_NativeMatmul_cpuLevel(JNIEnv *env, jclass cls) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("avx512vnni")) return LEVEL_AVX512_VNNI;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) return LEVEL_AVX2;
    return 0;
}

/* The address of a direct buffer's first byte. */
JNIEXPORT jlong JNICALL Java_dev_troupe_engine_kernel_NativeMatmul_address(JNIEnv *env, jclass cls, jobject buffer) {
    return (jlong) (intptr_t) (*env)->GetDirectBufferAddress(env, buffer);
}

/* See NativeMatmul.quantize; the caller has checked every bound. */
JNIEXPORT void JNICALL Java_dev_troupe_engine_kernel_NativeMatmul_quantize(
        JNIEnv *env, jclass cls, jint level, jint kind, jfloatArray x, jint xOff, jint xStride, jint tokens, jint cols, jlong dst) {
    float *xs = (*env)->GetPrimitiveArrayCritical(env, x, NULL);
    if (xs == NULL) return;   /* an OutOfMemoryError is pending */
    input_t in = input_at((intptr_t) dst, kind, tokens, cols);
    for (int t = 0; t < tokens; t++) {
        const float *row = xs + xOff + (size_t) t * xStride;
        if (kind == 0) {
            int blocks = cols / QB;
            int8_t *q = in.q + (size_t) t * cols;
            float *d = in.d + (size_t) t * blocks;
            int32_t *s = in.s + (size_t) t * blocks;
            if (level == LEVEL_AVX512_VNNI) quantize_512(row, blocks, q, d, s);
            else quantize_avx2(row, blocks, q, d, s);
        } else {
            int sb = cols / 256;
            int8_t *q = in.q + (size_t) t * cols;
            float *d = in.d + (size_t) t * sb;
            int16_t *s16 = in.s16 + (size_t) t * (cols / 16), *s32 = in.s32 + (size_t) t * (cols / 32);
            if (level == LEVEL_AVX512_VNNI) quantize_k_512(row, sb, q, d, s16, s32);
            else quantize_k_avx2(row, sb, q, d, s16, s32);
        }
    }
    (*env)->ReleasePrimitiveArrayCritical(env, x, xs, JNI_ABORT);
}

/* See NativeMatmul.q8Matmul; the caller has checked every bound. */
JNIEXPORT void JNICALL Java_dev_troupe_engine_kernel_NativeMatmul_q8Matmul(
        JNIEnv *env, jclass cls, jint level, jlong panels, jlong panelBytes, jint blocks, jlong input, jint tokens,
        jfloatArray out, jint outOff, jint outStride, jint r0, jint r1) {
    float *os = (*env)->GetPrimitiveArrayCritical(env, out, NULL);
    if (os == NULL) return;
    input_t in = input_at((intptr_t) input, 0, tokens, (size_t) blocks * QB);
    q8_matmul(level, (const uint8_t *) (intptr_t) panels, panelBytes, blocks, &in, tokens, os + outOff, outStride, r0, r1);
    (*env)->ReleasePrimitiveArrayCritical(env, out, os, 0);
}

/* See NativeMatmul.kMatmul; the caller has checked every bound. */
JNIEXPORT void JNICALL Java_dev_troupe_engine_kernel_NativeMatmul_kMatmul(
        JNIEnv *env, jclass cls, jint level, jlong panels, jlong chunkBytes, jint superBlocks, jint groups, jboolean nibbles,
        jlong input, jint tokens, jfloatArray out, jint outOff, jint outStride, jint r0, jint r1) {
    float *os = (*env)->GetPrimitiveArrayCritical(env, out, NULL);
    if (os == NULL) return;
    input_t in = input_at((intptr_t) input, 1, tokens, (size_t) superBlocks * 256);
    k_matmul(level, (const uint8_t *) (intptr_t) panels, chunkBytes, superBlocks, groups, nibbles, &in, tokens, os + outOff,
             outStride, r0, r1);
    (*env)->ReleasePrimitiveArrayCritical(env, out, os, 0);
}

/* See NativeMatmul.h16Matmul; the caller has checked every bound. */
JNIEXPORT void JNICALL Java_dev_troupe_engine_kernel_NativeMatmul_h16Matmul(
        JNIEnv *env, jclass cls, jint level, jlong panels, jint cols, jboolean bf16, jfloatArray x, jint xOff, jint xStride,
        jint tokens, jfloatArray out, jint outOff, jint outStride, jint r0, jint r1) {
    float *xs = (*env)->GetPrimitiveArrayCritical(env, x, NULL);
    if (xs == NULL) return;
    float *os = (*env)->GetPrimitiveArrayCritical(env, out, NULL);
    if (os == NULL) {
        (*env)->ReleasePrimitiveArrayCritical(env, x, xs, JNI_ABORT);
        return;
    }
    h16_matmul(level, (const uint16_t *) (intptr_t) panels, cols, bf16, xs + xOff, xStride, tokens, os + outOff, outStride, r0, r1);
    (*env)->ReleasePrimitiveArrayCritical(env, out, os, 0);
    (*env)->ReleasePrimitiveArrayCritical(env, x, xs, JNI_ABORT);
}

/*
 * Zeroed memory for packed weights, in 2 MiB pages where the kernel grants them (transparent huge pages asked for
 * before the first touch): decode streams every weight once per token, and 4 KiB pages would cost a page walk
 * every 4 KiB of it. Null when the memory cannot be had.
 */
JNIEXPORT jobject JNICALL Java_dev_troupe_engine_kernel_NativeMatmul_allocate0(JNIEnv *env, jclass cls, jlong bytes) {
    const size_t huge = (size_t) 2 << 20;
    size_t size = ((size_t) bytes + huge - 1) / huge * huge;
    void *p = NULL;
    if (posix_memalign(&p, huge, size) != 0) return NULL;
    madvise(p, size, MADV_HUGEPAGE);   /* a request: without it the pages are small, nothing else changes */
    memset(p, 0, (size_t) bytes);
    jobject buffer = (*env)->NewDirectByteBuffer(env, p, bytes);
    if (buffer == NULL) free(p);
    return buffer;
}

/* Frees what allocate returned. */
JNIEXPORT void JNICALL Java_dev_troupe_engine_kernel_NativeMatmul_free(JNIEnv *env, jclass cls, jlong address) {
    free((void *) (intptr_t) address);
}
