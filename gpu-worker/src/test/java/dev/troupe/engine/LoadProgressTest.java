package dev.troupe.engine;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.*;

class LoadProgressTest {
    private static final long MIB = 1 << 20, SECOND = 1_000_000_000L;

    @Test
    void notOnATerminalALineEveryIntervalWithBytesAndRate() {
        AtomicLong now = new AtomicLong();
        List<String> lines = new ArrayList<>();
        LoadProgress p = new LoadProgress("m.gguf", 400 * MIB, 5 * SECOND, false, lines::add, now::get);
        p.add(100 * MIB);
        assertEquals(List.of(), lines, "nothing before the first interval");
        now.set(5 * SECOND);
        p.add(100 * MIB);
        assertEquals(List.of("loading m.gguf:  50% 200 of 400 MiB, 40 MiB/s"), lines);
        now.set(6 * SECOND);
        p.add(100 * MIB);
        assertEquals(1, lines.size(), "not again within the interval");
        p.finish();
        assertEquals(1, lines.size(), "a log needs no closing line");
    }

    @Test
    void onATerminalABarRedrawnInPlaceAndEnded() {
        AtomicLong now = new AtomicLong();
        List<String> out = new ArrayList<>();
        LoadProgress p = new LoadProgress("m.gguf", 100 * MIB, SECOND / 4, true, out::add, now::get);
        now.set(SECOND);
        p.add(50 * MIB);
        assertTrue(out.get(0).startsWith("\r[###############               ] m.gguf:  50% 50 of 100 MiB"), out.get(0));
        now.set(2 * SECOND);
        p.add(50 * MIB);
        p.finish();
        assertTrue(out.get(out.size() - 1).startsWith("\r[##############################] m.gguf: 100% 100 of 100 MiB"), out.toString());
        assertTrue(out.get(out.size() - 1).endsWith("\n"));
    }

    @Test
    void aLoadFasterThanTheIntervalSaysNothing() {
        List<String> out = new ArrayList<>();
        LoadProgress p = new LoadProgress("m.gguf", MIB, SECOND, true, out::add, () -> 0L);
        p.add(MIB);
        p.finish();
        assertEquals(List.of(), out);
    }
}
