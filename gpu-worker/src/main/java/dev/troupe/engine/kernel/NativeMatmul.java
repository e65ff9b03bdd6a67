package dev.troupe.engine.kernel;

import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.net.URL;
import java.lang.ref.Cleaner;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * The entry points of libtroupe_kernels (src/main/c), the matmul kernels built into this jar on x86-64 Linux: int8
 * for Q8_0 and the K-quants, float for F16 and BF16. The
 * library is loaded once, from the class folder or copied out of the jar to a temporary file; where it cannot
 * load or the CPU has neither AVX-512 VNNI nor AVX2, {@link #available()} is false and says why in
 * {@link #unavailableReason()}. Both levels compute the same numbers bit for bit.
 */
final class NativeMatmul {
    /** Rows per packed panel: one 512-bit vector of lanes. */
    static final int PANEL = 16;
    static final int BLOCK = 32;
    /** The AVX2 (and FMA, F16C) kernels: 16 registers of 8 lanes. */
    static final int AVX2 = 1;
    /** The AVX-512 VNNI kernels. */
    static final int AVX512_VNNI = 2;
    private static final String RESOURCE = "native/linux-x86_64/libtroupe_kernels.so";
    private static int level;
    private static final String WHY_NOT = load();

    private NativeMatmul() {}

    static boolean available() { return WHY_NOT == null; }

    /** Why the kernels cannot run here, or null when they can. */
    static String unavailableReason() { return WHY_NOT; }

    /** The best kernels this CPU runs ({@link #AVX512_VNNI} or {@link #AVX2}); 0 when none can. */
    static int level() { return level; }

    /** "AVX-512 VNNI" or "AVX2". */
    static String levelName(int level) { return level == AVX512_VNNI ? "AVX-512 VNNI" : "AVX2"; }

    private static String load() {
        String os = System.getProperty("os.name", ""), arch = System.getProperty("os.arch", "");
        if (!os.equals("Linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) return "built for x86-64 Linux only (this is " + os + " " + arch + ")";
        URL url = NativeMatmul.class.getResource(RESOURCE);
        if (url == null) return "libtroupe_kernels.so is not in this build (it needs gcc at build time)";
        try {
            Path lib;
            if (url.getProtocol().equals("file")) {
                lib = Path.of(url.toURI());
            } else {
                lib = Files.createTempFile("troupe-kernels", ".so");
                lib.toFile().deleteOnExit();
                try (InputStream in = url.openStream()) {
                    Files.copy(in, lib, StandardCopyOption.REPLACE_EXISTING);
                }
            }
            System.load(lib.toAbsolutePath().toString());
            level = cpuLevel();
            return level >= AVX2 ? null : "this CPU has neither AVX-512 VNNI nor AVX2 with FMA and F16C";
        } catch (IOException | URISyntaxException | LinkageError | SecurityException e) {
            return "libtroupe_kernels.so did not load: " + e;
        }
    }

    /** {@link #AVX512_VNNI} or {@link #AVX2}, the best kernels the CPU runs, else 0. */
    private static native int cpuLevel();

    /** The address of a direct buffer's first byte (the buffer must stay reachable while the address is used). */
    static native long address(ByteBuffer direct);

    /** Inputs quantized per block of 32, for Q8_0 weights. */
    static final int Q8_INPUT = 0;
    /** Inputs quantized per super-block of 256, for the K-quants. */
    static final int K_INPUT = 1;

    /** Bytes {@link #quantize} writes for {@code tokens} inputs of {@code cols} (either kind). */
    static long quantizedBytes(int tokens, int cols) {
        return (long) tokens * cols + (long) tokens * (cols / BLOCK) * 8;
    }

    /**
     * Quantizes x[xOff + t * xStride + c] for t < tokens, c < cols (a multiple of 256 for {@link #K_INPUT}) into
     * {@link #quantizedBytes} bytes at {@code dst}, laid out as troupe_kernels.c's input_t says, with the quantizer of
     * {@code level} (both give the same bytes). No bounds are checked.
     */
    static native void quantize(int level, int kind, float[] x, int xOff, int xStride, int tokens, int cols, long dst);

    /**
     * Q8_0 panels (at {@code panels}, each {@code panelBytes}, laid out as NativeKernels.packQ8 writes them for
     * {@code level}) times {@code tokens} inputs quantized as {@link #Q8_INPUT} at {@code input}: for rows r in
     * [r0, r1) (r0 a multiple of {@link #PANEL}) and t < tokens, {@code out[outOff + t * outStride + r] = sum_c
     * W[r][c] * x[t][c]} (troupe_kernels.c gives the exact arithmetic). No bounds are checked here.
     */
    static native void q8Matmul(int level, long panels, long panelBytes, int blocks, long input, int tokens,
                                float[] out, int outOff, int outStride, int r0, int r1);

    /**
     * K-quant panels (NativeKernels.packK: {@code superBlocks} chunks of {@code chunkBytes} a panel, {@code groups}
     * groups a super-block, quants two per byte when {@code nibbles}) times inputs quantized as {@link #K_INPUT};
     * otherwise as {@link #q8Matmul}.
     */
    static native void kMatmul(int level, long panels, long chunkBytes, int superBlocks, int groups, boolean nibbles, long input,
                               int tokens, float[] out, int outOff, int outStride, int r0, int r1);

    /**
     * 16-bit panels (at {@code panels}, {@code [cols][PANEL]} F16 values, or BF16 with {@code bf16}, per panel, as
     * NativeKernels.packHalf writes them) times {@code tokens} float inputs {@code x[xOff + t * xStride + c]}: for rows r
     * in [r0, r1) (r0 a multiple of {@link #PANEL}) and t < tokens, {@code out[outOff + t * outStride + r] = sum_c
     * W[r][c] * x[t][c]} by one fma after another in column order. No bounds are checked here.
     */
    static native void h16Matmul(int level, long panels, int cols, boolean bf16, float[] x, int xOff, int xStride, int tokens,
                                 float[] out, int outOff, int outStride, int r0, int r1);

    private static final Cleaner CLEANER = Cleaner.create();

    /**
     * {@code bytes} of zeroed native memory, 2 MiB aligned and in transparent huge pages where the OS grants them, as
     * a native-order direct buffer; freed once the buffer is unreachable. For packed weights, which decode streams
     * whole every token: small pages would cost a TLB miss every 4 KiB.
     */
    static ByteBuffer allocate(long bytes) {
        if (bytes < 1 || bytes > Integer.MAX_VALUE) throw new IllegalArgumentException("cannot allocate " + bytes + " bytes in one buffer");
        ByteBuffer b = allocate0(bytes);
        if (b == null) throw new OutOfMemoryError("native memory for " + bytes + " bytes of packed weights");
        long address = address(b);
        CLEANER.register(b, () -> free(address));
        return b.order(ByteOrder.nativeOrder());
    }

    private static native ByteBuffer allocate0(long bytes);

    private static native void free(long address);
}
