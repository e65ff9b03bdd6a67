package dev.troupe.engine.kernel;

/** Per-thread buffers for the kernels, sized once for the widest matrix of a model. */
public final class KernelScratch {
    /** Panel width the buffers allow for: the widest SIMD vector in floats. */
    static final int MAX_PANEL = 16;
    /** Panels a vector matmul copies and works on together. */
    static final int PANELS_PER_GROUP = 4;
    /** Tokens a matmul input can have to be staged (larger prompt chunks take the copying kernels). */
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
    /**
     * Up to {@link #STAGED_TOKENS} tokens' inputs interleaved in groups of eight, {@code [group][col][8]}, so a
     * panel kernel finds the eight values of a column side by side behind one index instead of behind eight
     * offsets (which the JIT spills). Staged once per matmul input and reused by every panel of it; see
     * {@link #newInput()}.
     */
    final float[] staged;
    private float[] stagedFrom;
    private int stagedOff, stagedStride, stagedTokens, stagedCols;

    public KernelScratch(int maxCols) {
        this.tile = new float[maxCols * MAX_PANEL * PANELS_PER_GROUP];
        this.halves = new short[maxCols * MAX_PANEL * PANELS_PER_GROUP];
        this.raw = new byte[maxCols * MAX_PANEL * PANELS_PER_GROUP];
        this.scales = new float[(maxCols / 8 + 2) * MAX_PANEL * PANELS_PER_GROUP];
        this.groupSums = new float[8 * (maxCols / 16 + 1)];
        this.staged = new float[STAGED_TOKENS * maxCols];
    }

    /**
     * The contents of a matmul input may have changed since the last matmul with this scratch (a new layer's
     * input in the same buffer): the next matmul stages it again. Callers must say so before the first
     * matmul of every new input; a different buffer, offset, stride or token count is noticed without it.
     */
    public void newInput() {
        stagedFrom = null;
    }

    /**
     * {@link #staged} holding tokens [0, tokens) of x (rows of {@code cols} at {@code xOff + t * xStride}),
     * group g (tokens 8g..8g+7) at {@code 8 * g * cols}, the last token repeated into a short last group's
     * unused lanes; staged only if it does not hold them already. At most {@link #STAGED_TOKENS} tokens.
     */
    float[] stage(float[] x, int xOff, int xStride, int tokens, int cols) {
        if (stagedFrom == x && stagedOff == xOff && stagedStride == xStride && stagedTokens == tokens && stagedCols == cols) {
            return staged;
        }
        if (tokens > STAGED_TOKENS) throw new IllegalArgumentException(tokens + " tokens; at most " + STAGED_TOKENS + " can be staged");
        float[] st = staged;
        for (int g = 0; g < tokens; g += 8) {
            int base = g * cols;
            for (int i = 0; i < 8; i++) {
                int from = xOff + Math.min(g + i, tokens - 1) * xStride;
                for (int k = 0; k < cols; k++) st[base + k * 8 + i] = x[from + k];
            }
        }
        stagedFrom = x;
        stagedOff = xOff;
        stagedStride = xStride;
        stagedTokens = tokens;
        stagedCols = cols;
        return st;
    }
}
