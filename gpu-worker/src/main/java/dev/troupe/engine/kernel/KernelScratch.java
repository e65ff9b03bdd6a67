package dev.troupe.engine.kernel;

/** Per-thread buffers for the kernels, sized once for the widest matrix of a model. */
public final class KernelScratch {
    /** Panel width the buffers allow for: the widest SIMD vector in floats. */
    static final int MAX_PANEL = 16;

    /** Decoded weights: one row [maxCols] for the scalar kernels, or one F32 panel [maxCols][panel]. */
    public final float[] tile;
    /** Raw quantized panel: [maxCols][panel] bytes. */
    public final byte[] raw;
    /** Scales of a quantized panel: [maxCols / 32][panel]. */
    public final float[] scales;
    /** One vector of outputs for partial panels. */
    public final float[] lanes = new float[MAX_PANEL];

    public KernelScratch(int maxCols) {
        this.tile = new float[maxCols * MAX_PANEL];
        this.raw = new byte[maxCols * MAX_PANEL];
        this.scales = new float[(maxCols / 32 + 1) * MAX_PANEL];
    }
}
