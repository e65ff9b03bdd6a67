package dev.troupe.engine.kernel;

import java.nio.ByteBuffer;

/**
 * Single-token matmul straight from the packed off-heap panels, without copying them to the heap first:
 * on JDK 17 the Vector API can load from a ByteBuffer (later JDKs load from MemorySegments instead,
 * which release 17 cannot name). Decode reads every weight once per token, so the copy is most of the
 * memory traffic it can save. Must compute exactly what the copying kernels compute.
 */
interface DirectPanels {
    /** Four consecutive F32 panels at byte offset {@code at} times one token; see VectorKernels.f32Panels4x1. */
    void f32Panels4x1(ByteBuffer panels, int at, int cols, float[] x, int x0, float[] out, int o);

    /**
     * Four consecutive 16-bit panels ({@code [cols][L]} halves, F16 or, with {@code bf16}, BF16 bits) at byte offset
     * {@code at} times one token, each weight widened exactly as it is loaded: the sums of f32Panels4x1 over the
     * widened weights.
     */
    void h16Panels4x1(ByteBuffer panels, int at, int cols, boolean bf16, float[] x, int x0, float[] out, int o);

    /** One 16-bit panel at byte offset {@code at} times eight staged tokens; the sums of f32Panel8 over the widened weights. */
    void h16Panel8(ByteBuffer panels, int at, int cols, boolean bf16, float[] xs, int xsOff, float[] acc);

    /** Four consecutive Q8_0 panels (each {@code panelBytes}) at byte offset {@code at} times one token. */
    void q8Panels4x1(ByteBuffer panels, int at, int panelBytes, int blocks, float[] x, int x0, float[] out, int o);

    /**
     * One F32 panel at byte offset {@code at} times eight tokens, their inputs staged {@code xs[xsOff + col * 8 + i]}
     * ({@link KernelScratch#stage}), into acc[i * L ..]; the same sums as VectorKernels.f32Panel8.
     */
    void f32Panel8(ByteBuffer panels, int at, int cols, float[] xs, int xsOff, float[] acc);

    /** One Q8_0 panel at byte offset {@code at} times eight staged tokens into acc[i * L ..]; the same sums as VectorKernels.q8Panel8. */
    void q8Panel8(ByteBuffer panels, int at, int blocks, float[] xs, int xsOff, float[] acc);

    /**
     * Four consecutive grouped panels (each {@code panelBytes}; scales, offsets when {@code off}, then quants at
     * {@code scaleBytes}, two per byte when {@code nibbles}) at byte offset {@code at} times one token, group sums of its input in sums[0 ..];
     * the same sums as VectorKernels.gPanels4x1.
     */
    void gPanels4x1(ByteBuffer panels, int at, int panelBytes, int scaleBytes, boolean off, boolean nibbles, int gs, int groups,
                    float[] x, int x0, float[] sums, float[] out, int o);

    /** One grouped panel at {@code at} times eight staged tokens (group sums at sums[i * groups ..]) into acc[i * L ..]. */
    void gPanel8(ByteBuffer panels, int at, int scaleBytes, boolean off, boolean nibbles, int gs, int groups, float[] xs, int xsOff,
                 float[] sums, float[] acc);

    /** The JDK-specific implementation when this JVM has one that works, else null. */
    static DirectPanels load() {
        try {
            DirectPanels d = (DirectPanels) Class.forName("dev.troupe.engine.kernel.ByteBufferPanels").getDeclaredConstructor().newInstance();
            ByteBuffer probe = ByteBuffer.allocateDirect(4 * 16 * 64 * 4).order(java.nio.ByteOrder.nativeOrder());
            d.f32Panels4x1(probe, 0, 1, new float[1], 0, new float[4 * 64], 0);
            return d;
        } catch (ReflectiveOperationException | LinkageError | RuntimeException e) {
            return null;
        }
    }
}
