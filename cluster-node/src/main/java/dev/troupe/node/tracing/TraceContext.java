package dev.troupe.node.tracing;

import java.security.SecureRandom;
import java.util.HexFormat;

/**
 * A W3C Trace Context span reference: the trace, the span and whether the trace is sampled. Parsed from and
 * written as a {@code traceparent} header ({@code 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>}).
 */
public record TraceContext(String traceId, String spanId, boolean sampled) {
    public static final String HEADER = "traceparent";
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final HexFormat HEX = HexFormat.of();
    private static final String ZERO_TRACE = "0".repeat(32);
    private static final String ZERO_SPAN = "0".repeat(16);

    /**
     * The context a traceparent header names, or null when it is absent or malformed (the W3C rule: a
     * receiver that cannot parse it starts a new trace). Versions above 00 are read by their first four
     * fields, as the specification asks.
     */
    public static TraceContext parse(String header) {
        if (header == null) return null;
        String h = header.strip();
        if (h.length() < 55) return null;
        String version = h.substring(0, 2);
        if (!lowerHex(version) || version.equals("ff")) return null;
        if (version.equals("00") && h.length() != 55) return null;
        if (h.length() > 55 && h.charAt(55) != '-') return null;
        if (h.charAt(2) != '-' || h.charAt(35) != '-' || h.charAt(52) != '-') return null;
        String trace = h.substring(3, 35);
        String span = h.substring(36, 52);
        String flags = h.substring(53, 55);
        if (!lowerHex(trace) || !lowerHex(span) || !lowerHex(flags)) return null;
        if (trace.equals(ZERO_TRACE) || span.equals(ZERO_SPAN)) return null;
        return new TraceContext(trace, span, (Integer.parseInt(flags, 16) & 1) == 1);
    }

    /** A new span in parent's trace (its sampling decision kept), or the first span of a new sampled trace when parent is null. */
    public static TraceContext childOf(TraceContext parent) {
        return parent == null ? new TraceContext(randomHex(16), randomHex(8), true)
                : new TraceContext(parent.traceId(), randomHex(8), parent.sampled());
    }

    public String traceparent() {
        return "00-" + traceId + "-" + spanId + (sampled ? "-01" : "-00");
    }

    private static String randomHex(int bytes) {
        byte[] b = new byte[bytes];
        String s;
        do {
            RANDOM.nextBytes(b);
            s = HEX.formatHex(b);
        } while (s.chars().allMatch(c -> c == '0'));
        return s;
    }

    private static boolean lowerHex(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (!(c >= '0' && c <= '9' || c >= 'a' && c <= 'f')) return false;
        }
        return true;
    }
}
