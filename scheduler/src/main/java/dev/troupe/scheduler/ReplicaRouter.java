package dev.troupe.scheduler;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntUnaryOperator;

/**
 * Which replica of a version serves a request. Pure: replicas and their load in, one index out; the caller
 * keeps the replicas and their numbers current.
 *
 * <p>Policy:
 * <ol>
 * <li><b>Load</b> of a replica: the larger of what it last published (queued + running sequences) and what
 *     this gateway has outstanding on it (fresher than any publication, blind to other gateways), plus
 *     {@link Config#kvPressurePenalty} while under a tenth of its KV blocks are free (admitting more
 *     there means preemptions).</li>
 * <li><b>Power of two choices</b>: two distinct replicas drawn at random, the less loaded one wins (ties
 *     to the first drawn). Close to least-loaded without herding every gateway onto the same replica
 *     between two publications.</li>
 * <li><b>Prefix affinity</b>: a prompt of at least {@link Config#minPrefixTokens} tokens is keyed by a hash
 *     of its first {@link Config#prefixTokens}; a key served within {@link Config#affinityTtlNanos} goes
 *     back to the replica that served it (its KV cache, once prefixes are cached, holds that prefix),
 *     unless that replica's load exceeds the power-of-two pick's by more than
 *     {@link Config#affinitySlack}: affinity never outweighs a real imbalance.</li>
 * </ol>
 * Thread-safe (the affinity table is the only state).
 */
public final class ReplicaRouter {

    /**
     * @param prefixTokens       leading prompt tokens that make the affinity key
     * @param minPrefixTokens    prompts shorter than this get no affinity (nothing worth reusing)
     * @param affinityTtlNanos   how long a key remembers its replica
     * @param affinitySlack      how much more loaded than the alternative an affine replica may be
     * @param affinityEntries    most keys remembered (least recently used ones go first)
     * @param kvPressurePenalty  load added to a replica with under 10% of its KV blocks free
     */
    public record Config(int prefixTokens, int minPrefixTokens, long affinityTtlNanos, int affinitySlack, int affinityEntries,
                         int kvPressurePenalty) {
        public Config {
            if (prefixTokens < 1 || minPrefixTokens < 1) throw new IllegalArgumentException("prefix lengths must be >= 1");
            if (affinitySlack < 0 || affinityEntries < 0 || kvPressurePenalty < 0 || affinityTtlNanos < 0) {
                throw new IllegalArgumentException("affinity slack, entries, TTL and KV penalty must be >= 0");
            }
        }

        public static Config defaults() {
            return new Config(64, 32, 120_000_000_000L, 4, 8192, 8);
        }
    }

    /**
     * A replica as the router sees it. id: stable while it exists; published: queued + running sequences it
     * last reported; outstanding: this gateway's requests on it now; kvFree/kvTotal: its KV blocks.
     */
    public record Candidate(String id, int published, int outstanding, int kvFree, int kvTotal) {
        public Candidate withPublished(int p) {
            return new Candidate(id, p, outstanding, kvFree, kvTotal);
        }

        int load(int kvPenalty) {
            int load = Math.max(published, outstanding);
            return kvTotal > 0 && kvFree * 10 < kvTotal ? load + kvPenalty : load;
        }
    }

    private record Affinity(String replica, long at) {}

    private final Config config;
    private final Map<Long, Affinity> affinity;

    public ReplicaRouter(Config config) {
        this.config = config;
        this.affinity = new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<Long, Affinity> eldest) {
                return size() > config.affinityEntries();
            }
        };
    }

    /** The prefix key of a prompt, or 0 when it is too short for affinity. */
    public long prefixKey(int[] prompt) {
        if (prompt.length < config.minPrefixTokens()) return 0;
        long h = 0xcbf29ce484222325L;
        for (int i = 0, n = Math.min(prompt.length, config.prefixTokens()); i < n; i++) {
            h ^= prompt[i];
            h *= 0x100000001b3L;
        }
        return h == 0 ? 1 : h;
    }

    /**
     * The index of the replica to use, or -1 when there is none. random(n) returns a uniform draw in
     * [0, n). The choice is remembered for the prefix key (0 = none).
     */
    public int pick(List<Candidate> replicas, long prefixKey, long nowNanos, IntUnaryOperator random) {
        int n = replicas.size();
        if (n == 0) return -1;
        int choice = 0;
        if (n > 1) {
            int a = random.applyAsInt(n);
            int b = random.applyAsInt(n - 1);
            if (b >= a) b++;
            choice = replicas.get(b).load(config.kvPressurePenalty()) < replicas.get(a).load(config.kvPressurePenalty()) ? b : a;
        }
        if (prefixKey == 0) return choice;
        synchronized (affinity) {
            Affinity known = affinity.get(prefixKey);
            if (known != null && nowNanos - known.at() <= config.affinityTtlNanos()) {
                for (int i = 0; i < n; i++) {
                    Candidate c = replicas.get(i);
                    if (c.id().equals(known.replica())
                            && c.load(config.kvPressurePenalty()) <= replicas.get(choice).load(config.kvPressurePenalty()) + config.affinitySlack()) {
                        choice = i;
                        break;
                    }
                }
            }
            affinity.put(prefixKey, new Affinity(replicas.get(choice).id(), nowNanos));
        }
        return choice;
    }
}
