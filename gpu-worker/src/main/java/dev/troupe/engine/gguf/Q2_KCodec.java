package dev.troupe.engine.gguf;

import java.nio.ByteBuffer;

/**
 * Q2_K: 256 elements in 84 bytes: sixteen scale bytes (low nibble scale, high nibble minimum, one per 16
 * elements), 64 bytes of 2-bit quants, half d, half dmin. Element e = 128n + 32j + 16h + l takes bits
 * (2j, 2j + 1) of qs[32n + 16h + l] and scale byte e / 16. Element = (d * scale) * q - (dmin * min).
 * Decoding only: Troupe does not write this type.
 */
public final class Q2_KCodec extends GroupedCodec {
    public static final Q2_KCodec INSTANCE = new Q2_KCodec();
    private static final int BLOCK = 256, BYTES = 84;

    private Q2_KCodec() {}

    @Override public GgmlType type() { return GgmlType.Q2_K; }
    @Override public int groupSize() { return 16; }
    @Override public boolean hasOffset() { return true; }
    @Override public int quantMin() { return 0; }
    @Override public int quantMax() { return 3; }

    private static int quant(ByteBuffer src, int at, int e) {
        int n = e >>> 7, j = (e >>> 5) & 3, h = (e >>> 4) & 1, l = e & 15;
        return ((src.get(at + 16 + 32 * n + 16 * h + l) & 0xFF) >>> (2 * j)) & 3;
    }

    @Override
    public void dequantize(ByteBuffer src, long byteOffset, float[] dst, int dstOffset, int count) {
        int at = Math.toIntExact(byteOffset);
        for (int b = 0; b < count / BLOCK; b++, at += BYTES) {
            float d = Float16.toFloat(src.getShort(at + 80)), dmin = Float16.toFloat(src.getShort(at + 82));
            for (int g = 0; g < 16; g++) {
                int sc = src.get(at + g) & 0xFF;
                float dl = d * (sc & 0xF), ml = dmin * (sc >>> 4);
                for (int i = 0; i < 16; i++) dst[dstOffset + b * BLOCK + 16 * g + i] = dl * quant(src, at, 16 * g + i) - ml;
            }
        }
    }

    @Override
    public void unpack(ByteBuffer src, int at, byte[] q, int qOff, float[] scale, float[] offset, int sOff) {
        float d = Float16.toFloat(src.getShort(at + 80)), dmin = Float16.toFloat(src.getShort(at + 82));
        for (int g = 0; g < 16; g++) {
            int sc = src.get(at + g) & 0xFF;
            scale[sOff + g] = d * (sc & 0xF);
            offset[sOff + g] = -(dmin * (sc >>> 4));
        }
        for (int e = 0; e < BLOCK; e++) q[qOff + e] = (byte) quant(src, at, e);
    }

    @Override
    public void quantize(float[] src, int srcOffset, int count, ByteBuffer dst, long byteOffset) {
        throw new UnsupportedOperationException("Troupe reads Q2_K but does not write it");
    }
}
