package dev.troupe.engine.sampling;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class TokenHistoryTest {

    @Test
    void addGetSizeAndGrowth() {
        TokenHistory h = new TokenHistory(2);
        for (int i = 0; i < 1000; i++) {
            h.add(i * 3);
        }
        assertEquals(1000, h.size());
        for (int i = 0; i < 1000; i++) {
            assertEquals(i * 3, h.get(i));
        }
        assertEquals(2997, h.last());
        assertTrue(h.capacity() >= 1000 && h.capacity() <= 2048, "capacity grows by doubling");
    }

    @Test
    void clearKeepsCapacity() {
        TokenHistory h = new TokenHistory();
        h.addAll(1, 2, 3);
        int cap = h.capacity();
        h.clear();
        assertEquals(0, h.size());
        assertEquals(cap, h.capacity());
        h.add(9);
        assertArrayEquals(new int[] {9}, h.toArray());
    }

    @Test
    void ensureCapacityAndAddAll() {
        TokenHistory h = new TokenHistory(1);
        h.ensureCapacity(500);
        assertTrue(h.capacity() >= 500);
        h.addAll(new int[] {5, 6, 7, 8}, 1, 2);
        assertArrayEquals(new int[] {6, 7}, h.toArray());
        assertThrows(IndexOutOfBoundsException.class, () -> h.addAll(new int[] {1}, 0, 2));
    }

    @Test
    void boundsAreChecked() {
        TokenHistory h = new TokenHistory();
        h.add(1);
        assertThrows(IndexOutOfBoundsException.class, () -> h.get(1));
        assertThrows(IndexOutOfBoundsException.class, () -> h.get(-1));
        assertThrows(IllegalArgumentException.class, () -> new TokenHistory(-1));
    }
}
