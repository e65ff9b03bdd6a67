package dev.troupe.node.deploy;

import dev.troupe.node.http.ServedModel;

import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Picks the version of a model that serves a request. The table holds only versions that are loaded and
 * ready, with their traffic weights; a request goes to the version whose share of the 100 buckets holds
 * the stable hash of its key (the client's {@code X-Request-Id}, else our own id), so a retry with the
 * same id lands on the same version on any node. Swapping the table is one volatile write: that is what
 * makes a rollback to a warm version instant.
 */
public final class VersionRouter {

    /** Ready versions in name order, and for each the upper bound of its bucket range (last = 100). */
    record Table(List<ServedModel> versions, int[] bucketEnds, Map<String, Integer> weights) {
        static final Table EMPTY = new Table(List.of(), new int[0], Map.of());
    }

    private volatile Table table = Table.EMPTY;

    /** The version for this request key, or null when no version is ready. */
    public ServedModel pick(String requestKey) {
        Table t = table;
        if (t.versions.isEmpty()) return null;
        int bucket = bucket(requestKey);
        for (int i = 0; i < t.bucketEnds.length; i++) {
            if (bucket < t.bucketEnds[i]) return t.versions.get(i);
        }
        return t.versions.get(t.versions.size() - 1);
    }

    /** Any ready version (the one with the most traffic), for requests that do not depend on the split. */
    public ServedModel any() {
        Table t = table;
        ServedModel best = null;
        int bestWeight = -1;
        for (int i = 0; i < t.versions.size(); i++) {
            int w = t.bucketEnds[i] - (i == 0 ? 0 : t.bucketEnds[i - 1]);
            if (w > bestWeight) {
                best = t.versions.get(i);
                bestWeight = w;
            }
        }
        return best;
    }

    /** The split as served right now (version → percent); empty when nothing is ready. */
    public Map<String, Integer> effectiveWeights() {
        return table.weights;
    }

    public List<ServedModel> versions() {
        return table.versions;
    }

    /**
     * Serves these versions with these weights from now on. Weights of versions not in {@code ready} are
     * dropped and the rest scaled back to 100, so traffic never reaches a version that is not ready.
     * Returns false (and keeps the old table) when no weighted version is ready.
     */
    boolean publish(Map<String, Integer> weights, Map<String, ServedModel> ready) {
        Map<String, Integer> usable = new java.util.TreeMap<>();
        int sum = 0;
        for (Map.Entry<String, Integer> w : weights.entrySet()) {
            if (w.getValue() > 0 && ready.containsKey(w.getKey())) {
                usable.put(w.getKey(), w.getValue());
                sum += w.getValue();
            }
        }
        if (sum == 0) return false;
        List<ServedModel> versions = new java.util.ArrayList<>();
        int[] ends = new int[usable.size()];
        Map<String, Integer> effective = new LinkedHashMap<>();
        int acc = 0;
        int i = 0;
        for (Map.Entry<String, Integer> w : usable.entrySet()) {
            int share = i == usable.size() - 1 ? 100 - acc : Math.round(100f * w.getValue() / sum);
            acc += share;
            ends[i++] = acc;
            versions.add(ready.get(w.getKey()));
            effective.put(w.getKey(), share);
        }
        table = new Table(List.copyOf(versions), ends, Collections.unmodifiableMap(effective));
        return true;
    }

    void clear() {
        table = Table.EMPTY;
    }

    /** 0..99 from a 64-bit FNV-1a hash of the key's UTF-8 bytes: stable across JVMs and nodes. */
    static int bucket(String key) {
        long h = 0xcbf29ce484222325L;
        for (byte b : key.getBytes(StandardCharsets.UTF_8)) {
            h ^= b & 0xff;
            h *= 0x100000001b3L;
        }
        return (int) Long.remainderUnsigned(h, 100);
    }
}
