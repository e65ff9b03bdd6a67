package dev.troupe.engine.gguf;

import java.nio.ByteBuffer;

/**
 * Q3_K: 256 elements in 110 bytes: 32 bytes of high-bit masks, 64 bytes of 2-bit quants, 12 bytes holding
 * sixteen 6-bit scales (stored plus 32), half d. Element e = 128n + 32j + 16h + l takes bits (2j, 2j + 1) of
 * qs[32n + 16h + l], minus 4 unless bit (4n + j) of hmask[16h + l] is set, and scale e / 16.
 * Element = (d * (scale - 32)) * q. Decoding only: Troupe does not write this type.
 */
public final class Q3_KCodec extends GroupedCodec {
    public static final Q3_KCodec INSTANCE = new Q3_KCodec();
    private static final int BLOCK = 256, BYTES = 110;

    private Q3_KCodec() {}

    @Override public GgmlType type() { return GgmlType.Q3_K; }
    @Override public int groupSize() { return 16; }
    @Override public boolean hasOffset() { return false; }
    @Override public int quantMin() { return -4; }
    @Override public int quantMax() { return 3; }

    /** Scale g (0..15): low nibble from byte g (g < 8) or the high nibble of byte g - 8; top two bits from byte 8 + g % 4. */
    private static int scale(ByteBuffer src, int at, int g) {
        int s = at + 96;
        int lo = g < 8 ? src.get(s + g) & 0xF : (src.get(s + g - 8) & 0xFF) >>> 4;
        int hi = ((src.get(s + 8 + (g & 3)) & 0xFF) >>> (2 * (g >>> 2))) & 3;
        return (lo | hi << 4) - 32;
    }

    private static int quant(ByteBuffer src, int at, int e) {
        int n = e >>> 7, j = (e >>> 5) & 3, h = (e >>> 4) & 1, l = e & 15;
        int low = ((src.get(at + 32 + 32 * n + 16 * h + l) & 0xFF) >>> (2 * j)) & 3;
        boolean high = (src.get(at + 16 * h + l) & (1 << (4 * n + j))) != 0;
        return low - (high ? 0 : 4);
    }

    @Override
    public void dequantize(ByteBuffer src, long byteOffset, float[] dst, int dstOffset, int count) {
        int at = Math.toIntExact(byteOffset);
        for (int b = 0; b < count / BLOCK; b++, at += BYTES) {
            float d = Float16.toFloat(src.getShort(at + 108));
            for (int g = 0; g < 16; g++) {
                float dl = d * scale(src, at, g);
                for (int i = 0; i < 16; i++) dst[dstOffset + b * BLOCK + 16 * g + i] = dl * quant(src, at, 16 * g + i);
            }
        }
    }

    @Override
    public void unpack(ByteBuffer src, int at, byte[] q, int qOff, float[] scale, float[] offset, int sOff) {
        float d = Float16.toFloat(src.getShort(at + 108));
        for (int g = 0; g < 16; g++) scale[sOff + g] = d * scale(src, at, g);
        for (int e = 0; e < BLOCK; e++) q[qOff + e] = (byte) quant(src, at, e);
    }

    @Override
    public void quantize(float[] src, int srcOffset, int count, ByteBuffer dst, long byteOffset) {
        throw new UnsupportedOperationException("Troupe reads Q3_K but does not write it");
    }
}
