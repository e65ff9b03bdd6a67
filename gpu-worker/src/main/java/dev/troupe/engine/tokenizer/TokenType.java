package dev.troupe.engine.tokenizer;

/** The GGUF {@code tokenizer.ggml.token_type} codes. */
public final class TokenType {
    public static final int UNDEFINED = 0;
    public static final int NORMAL = 1;
    public static final int UNKNOWN = 2;
    public static final int CONTROL = 3;
    public static final int USER_DEFINED = 4;
    public static final int UNUSED = 5;
    public static final int BYTE = 6;

    private TokenType() {
    }

    public static String name(int type) {
        switch (type) {
            case UNDEFINED: return "undefined";
            case NORMAL: return "normal";
            case UNKNOWN: return "unknown";
            case CONTROL: return "control";
            case USER_DEFINED: return "user-defined";
            case UNUSED: return "unused";
            case BYTE: return "byte";
            default: return "type-" + type;
        }
    }

    /** Whether a piece of this type may be produced by matching ordinary input text. */
    static boolean matchesText(int type) {
        return type == NORMAL || type == USER_DEFINED || type == UNDEFINED;
    }

    /** Parses a byte-fallback piece {@code <0xXX>}; returns the byte value 0..255 or -1. */
    static int parseByteToken(String piece) {
        if (piece.length() != 6 || !piece.startsWith("<0x") || piece.charAt(5) != '>') return -1;
        int hi = Character.digit(piece.charAt(3), 16);
        int lo = Character.digit(piece.charAt(4), 16);
        return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
    }
}
