package dev.troupe.engine.kernel;

/** Per-thread buffers for the kernels, sized once for the widest matrix of a model. */
public final class KernelScratch {
    /** Panel width the buffers allow for: the widest SIMD vector in floats. */
    static final int MAX_PANEL = 16;
    /** Panels a vector matmul copies and works on together. */
    static final int PANELS_PER_GROUP = 4;
    /**
     * Most tokens the 16-bit and grouped kernels read staged (larger prompt chunks take the copying kernels, which
     * widen or decode each panel once for all tokens), and the capacity of a scratch's own staging.
     */
    static final int STAGED_TOKENS = 64;

    /** Decoded weights: one row [maxCols] for the scalar kernels, or up to four F32 panels [4][maxCols][panel]. */
    public final float[] tile;
    /** 16-bit panels copied before they are widened into {@link #tile}. */
    public final short[] halves;
    /** Raw quantized panels: [4][maxCols][panel] bytes. */
    public final byte[] raw;
    /**
     * Scales of quantized panels: [4][maxCols / 32][panel] for Q8_0; for the grouped types (groups of 16 or
     * 32, see VectorKernels) [4][groups][panel] scales, each panel's followed by as many offsets.
     */
    public final float[] scales;
    /** Sums of the input over each weight group, for the grouped types with offsets: [8 tokens][maxCols / 16]. */
    final float[] groupSums;
    /** One vector of outputs for partial panels. */
    public final float[] lanes = new float[MAX_PANEL];
    /** Outputs of one panel for eight tokens: [8][panel]. */
    public final float[] acc = new float[8 * MAX_PANEL];
    /** Input offsets of the eight tokens a panel kernel works on. */
    public final int[] tokenOffsets = new int[8];
    /** Inputs staged for the panel kernels: the team's shared one, or this scratch's own. */
    private final StagedInput staging;

    /** Scratch with a staging of its own for up to {@link #STAGED_TOKENS} tokens. */
    public KernelScratch(int maxCols) {
        this(maxCols, new StagedInput(STAGED_TOKENS, maxCols));
    }

    /** Scratch for one thread of a team that shares {@code staging}. */
    public KernelScratch(int maxCols, StagedInput staging) {
        this.tile = new float[maxCols * MAX_PANEL * PANELS_PER_GROUP];
        this.halves = new short[maxCols * MAX_PANEL * PANELS_PER_GROUP];
        this.raw = new byte[maxCols * MAX_PANEL * PANELS_PER_GROUP];
        this.scales = new float[(maxCols / 8 + 2) * MAX_PANEL * PANELS_PER_GROUP];
        this.groupSums = new float[8 * (maxCols / 16 + 1)];
        this.staging = staging;
    }

    /** See {@link StagedInput#newInput()}: with a shared staging, its owner says it once for the team instead. */
    public void newInput() {
        staging.newInput();
    }

    /** The most tokens a matmul input can have to be staged. */
    int stagedCapacity() {
        return staging.capacity();
    }

    /** See {@link StagedInput#quantized}. */
    long quantized(float[] x, int xOff, int xStride, int tokens, int cols, int kind, int level) {
        return staging.quantized(x, xOff, xStride, tokens, cols, kind, level);
    }

    /** See {@link StagedInput#stage}. */
    float[] stage(float[] x, int xOff, int xStride, int tokens, int cols) {
        return staging.stage(x, xOff, xStride, tokens, cols);
    }
}
