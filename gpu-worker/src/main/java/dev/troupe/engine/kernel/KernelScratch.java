package dev.troupe.engine.kernel;

/** Per-thread buffers for the kernels, sized once for the widest matrix of a model. */
public final class KernelScratch {
    /** Panel width the buffers allow for: the widest SIMD vector in floats. */
    static final int MAX_PANEL = 16;
    /** Panels a vector matmul copies and works on together. */
    static final int PANELS_PER_GROUP = 4;

    /** Decoded weights: one row [maxCols] for the scalar kernels, or up to four F32 panels [4][maxCols][panel]. */
    public final float[] tile;
    /** Raw quantized panels: [4][maxCols][panel] bytes. */
    public final byte[] raw;
    /** Scales of quantized panels: [4][maxCols / 32][panel]. */
    public final float[] scales;
    /** One vector of outputs for partial panels. */
    public final float[] lanes = new float[MAX_PANEL];
    /** Outputs of one panel for eight tokens: [8][panel]. */
    public final float[] acc = new float[8 * MAX_PANEL];
    /** Input offsets of the eight tokens a panel kernel works on. */
    public final int[] tokenOffsets = new int[8];

    public KernelScratch(int maxCols) {
        this.tile = new float[maxCols * MAX_PANEL * PANELS_PER_GROUP];
        this.raw = new byte[maxCols * MAX_PANEL * PANELS_PER_GROUP];
        this.scales = new float[(maxCols / 32 + 1) * MAX_PANEL * PANELS_PER_GROUP];
    }
}
