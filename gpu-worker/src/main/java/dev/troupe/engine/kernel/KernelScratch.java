package dev.troupe.engine.kernel;

/** Per-thread buffers for the kernels, sized once for the widest matrix of a model. */
public final class KernelScratch {
    /** Decoded weight rows: [TILE_ROWS][maxCols]. */
    public final float[] tile;
    /** Raw encoded weight rows: [TILE_ROWS][maxRowBytes]. */
    public final byte[] raw;

    public KernelScratch(int maxCols, int maxRowBytes) {
        this.tile = new float[Kernels.TILE_ROWS * maxCols];
        this.raw = new byte[Kernels.TILE_ROWS * maxRowBytes];
    }
}
