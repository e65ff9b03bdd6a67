package dev.troupe.node.cluster;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * How this node takes part in the cluster ({@code troupe.cluster}): its address, the seeds it joins, its
 * roles and the transport, checked here and turned into the Pekko settings that carry them out.
 */
public record ClusterSettings(String host, int port, List<String> seeds, Set<String> roles, String transport, Path aeronDir,
                              int aeronIdleCpuLevel, Duration joinTimeout, Duration splitBrainStableAfter, boolean trustedNetwork,
                              Tls tls) {
    /**
     * Mutual TLS on the cluster port ({@code troupe.cluster.tls}): this node's key and certificate, and the
     * certificates it accepts from peers (both sides present theirs: a process without a trusted certificate
     * cannot join or talk to the cluster). Null: no TLS.
     */
    public record Tls(String keyStore, String keyStorePassword, String trustStore, String trustStorePassword) {
        @Override
        public String toString() {
            return "Tls[keyStore=" + keyStore + ", trustStore=" + trustStore + "]"; // no passwords in logs
        }
    }

    public static final String GATEWAY = "gateway";
    public static final String WORKER = "worker";
    /** The actor system's name: every node of a cluster must use the same. */
    public static final String SYSTEM = "troupe";

    public ClusterSettings {
        if (host.isBlank()) throw new IllegalArgumentException("troupe.cluster.host must not be empty");
        if (port < 0 || port > 65535) throw new IllegalArgumentException("troupe.cluster.port must be 0..65535, got " + port);
        for (String s : seeds) parseSeed(s);
        if (roles.isEmpty()) throw new IllegalArgumentException("troupe.cluster.roles must name gateway, worker or both");
        for (String r : roles) {
            if (!r.equals(GATEWAY) && !r.equals(WORKER)) {
                throw new IllegalArgumentException("unknown role '" + r + "' in troupe.cluster.roles (gateway, worker)");
            }
        }
        if (!transport.equals("aeron-udp") && !transport.equals("tcp")) {
            throw new IllegalArgumentException("troupe.cluster.transport must be aeron-udp or tcp, got '" + transport + "'");
        }
        if (aeronIdleCpuLevel < 1 || aeronIdleCpuLevel > 10) {
            throw new IllegalArgumentException("troupe.cluster.aeron-idle-cpu-level must be 1..10, got " + aeronIdleCpuLevel);
        }
        if (!seeds.isEmpty() && port == 0) {
            throw new IllegalArgumentException("a node that joins seeds needs a fixed cluster port (--cluster-port), so its peers can reach it");
        }
        // Artery has no authentication here (no mutual TLS): whoever reaches the cluster port can join the cluster,
        // run admin-equivalent messages and read every token stream. Off loopback only behind a network boundary
        // the operator vouches for (docs/deploy.md, "The cluster port").
        if (tls != null && !transport.equals("tcp")) {
            throw new IllegalArgumentException("troupe.cluster.tls needs troupe.cluster.transport = tcp (Artery has TLS over TCP only)");
        }
        if (tls == null && !trustedNetwork && !isLoopback(host)) {
            throw new IllegalArgumentException("the cluster port is unauthenticated and troupe.cluster.host = " + host + " is not loopback: "
                    + "configure mutual TLS (troupe.cluster.tls, transport tcp) or set troupe.cluster.trusted-network = on "
                    + "(TROUPE_CLUSTER_TRUSTED_NETWORK=on) once only the cluster's nodes can reach that address and port "
                    + "(firewall, private network; docs/deploy.md)");
        }
        seeds = List.copyOf(seeds);
        roles = Set.copyOf(roles);
    }

    public static ClusterSettings from(Config c) {
        Config k = c.getConfig("troupe.cluster");
        String dir = k.getString("aeron-dir");
        return new ClusterSettings(k.getString("host"), k.getInt("port"), listOrCsv(k, "seeds"),
                new LinkedHashSet<>(listOrCsv(k, "roles")), k.getString("transport"),
                dir.isBlank() ? defaultAeronDir() : Path.of(dir), k.getInt("aeron-idle-cpu-level"), k.getDuration("join-timeout"),
                k.getDuration("split-brain-stable-after"), k.getBoolean("trusted-network"), tls(k));
    }

    private static Tls tls(Config k) {
        Config t = k.getConfig("tls");
        if (t.getString("key-store").isBlank()) return null;
        if (t.getString("trust-store").isBlank()) throw new IllegalArgumentException("troupe.cluster.tls.trust-store is required with a key-store");
        for (String f : new String[] {"key-store", "trust-store"}) {
            if (!Files.isRegularFile(Path.of(t.getString(f)))) {
                throw new IllegalArgumentException("troupe.cluster.tls." + f + " not found: " + t.getString(f));
            }
        }
        return new Tls(t.getString("key-store"), t.getString("key-store-password"), t.getString("trust-store"),
                t.getString("trust-store-password"));
    }

    /** A list setting, or the comma-separated string an environment variable gives. */
    private static List<String> listOrCsv(Config k, String key) {
        List<String> out = new ArrayList<>();
        if (k.getValue(key).valueType() == com.typesafe.config.ConfigValueType.STRING) {
            for (String s : k.getString(key).split(",")) if (!s.isBlank()) out.add(s.trim());
        } else {
            for (String s : k.getStringList(key)) if (!s.isBlank()) out.add(s.trim());
        }
        return out;
    }

    /** Whether host is a loopback literal or localhost (names are not resolved). */
    static boolean isLoopback(String host) {
        String h = host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
        if (h.equalsIgnoreCase("localhost")) return true;
        if (!h.matches("[0-9.]+") && !h.contains(":")) return false;
        try {
            return java.net.InetAddress.getByName(h).isLoopbackAddress();
        } catch (java.net.UnknownHostException e) {
            return false;
        }
    }

    /** HOST:PORT of a seed; an IPv6 host in brackets. */
    static String[] parseSeed(String seed) {
        int colon = seed.lastIndexOf(':');
        if (colon <= 0 || colon == seed.length() - 1) throw new IllegalArgumentException("a seed is HOST:PORT, got '" + seed + "'");
        String host = seed.substring(0, colon);
        int port;
        try {
            port = Integer.parseInt(seed.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("a seed is HOST:PORT, got '" + seed + "'");
        }
        if (port <= 0 || port > 65535) throw new IllegalArgumentException("a seed's port must be 1..65535, got '" + seed + "'");
        return new String[]{host, String.valueOf(port)};
    }

    /** Shared memory where there is a mount for it, else the temp directory; one directory per process. */
    private static Path defaultAeronDir() {
        Path shm = Path.of("/dev/shm");
        Path base = Files.isDirectory(shm) && Files.isWritable(shm) ? shm : Path.of(System.getProperty("java.io.tmpdir"));
        return base.resolve("troupe-aeron-" + ProcessHandle.current().pid());
    }

    public boolean isGateway() {
        return roles.contains(GATEWAY);
    }

    public boolean isWorker() {
        return roles.contains(WORKER);
    }

    /** Whether this node forms its own cluster (no seeds): it joins itself. */
    public boolean formsOwnCluster() {
        return seeds.isEmpty();
    }

    /** The Pekko settings for this node; they override the profile's. */
    public Config pekko() {
        List<String> seedAddresses = new ArrayList<>();
        for (String s : seeds) {
            String[] hp = parseSeed(s);
            seedAddresses.add("pekko://" + SYSTEM + "@" + hp[0] + ":" + hp[1]);
        }
        Config c = ConfigFactory.empty()
                .withValue("pekko.remote.artery.transport", ConfigValueFactory.fromAnyRef(transport))
                .withValue("pekko.remote.artery.canonical.hostname", ConfigValueFactory.fromAnyRef(host))
                .withValue("pekko.remote.artery.canonical.port", ConfigValueFactory.fromAnyRef(port))
                .withValue("pekko.cluster.seed-nodes", ConfigValueFactory.fromIterable(seedAddresses))
                .withValue("pekko.cluster.roles", ConfigValueFactory.fromIterable(new ArrayList<>(roles)))
                .withValue("pekko.cluster.split-brain-resolver.active-strategy", ConfigValueFactory.fromAnyRef("keep-majority"))
                .withValue("pekko.cluster.split-brain-resolver.stable-after",
                        ConfigValueFactory.fromAnyRef(splitBrainStableAfter.toMillis() + "ms"));
        if (tls != null) {
            String e = "pekko.remote.artery.ssl.config-ssl-engine.";
            c = c.withValue("pekko.remote.artery.transport", ConfigValueFactory.fromAnyRef("tls-tcp"))
                    .withValue("pekko.remote.artery.ssl.ssl-engine-provider",
                            ConfigValueFactory.fromAnyRef("org.apache.pekko.remote.artery.tcp.ConfigSSLEngineProvider"))
                    .withValue(e + "key-store", ConfigValueFactory.fromAnyRef(tls.keyStore()))
                    .withValue(e + "key-store-password", ConfigValueFactory.fromAnyRef(tls.keyStorePassword()))
                    .withValue(e + "key-password", ConfigValueFactory.fromAnyRef(tls.keyStorePassword()))
                    .withValue(e + "trust-store", ConfigValueFactory.fromAnyRef(tls.trustStore()))
                    .withValue(e + "trust-store-password", ConfigValueFactory.fromAnyRef(tls.trustStorePassword()))
                    .withValue(e + "protocol", ConfigValueFactory.fromAnyRef("TLSv1.3"))
                    // Both sides present a certificate the other's trust store holds.
                    .withValue(e + "require-mutual-authentication", ConfigValueFactory.fromAnyRef(true));
        }
        if (transport.equals("aeron-udp")) {
            c = c.withValue("pekko.remote.artery.advanced.aeron.embedded-media-driver", ConfigValueFactory.fromAnyRef(true))
                    .withValue("pekko.remote.artery.advanced.aeron.aeron-dir", ConfigValueFactory.fromAnyRef(aeronDir.toString()))
                    .withValue("pekko.remote.artery.advanced.aeron.delete-aeron-dir", ConfigValueFactory.fromAnyRef(true))
                    .withValue("pekko.remote.artery.advanced.aeron.idle-cpu-level", ConfigValueFactory.fromAnyRef(aeronIdleCpuLevel))
                    // Bounded shutdown (STACK.md): without these the last system to stop sometimes hung flushing.
                    .withValue("pekko.remote.artery.advanced.aeron.give-up-message-after", ConfigValueFactory.fromAnyRef("3s"))
                    .withValue("pekko.remote.artery.advanced.give-up-system-message-after", ConfigValueFactory.fromAnyRef("3s"))
                    // The embedded media driver can take longer than the default 3 s to start on a busy machine.
                    .withValue("pekko.remote.artery.bind.bind-timeout", ConfigValueFactory.fromAnyRef("20s"));
        }
        return c;
    }
}
