package dev.troupe.actors.registry;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.persistence.jdbc.testkit.javadsl.SchemaUtils;

/**
 * The journal the registry tests run against: an H2 file under the test's temp dir, or PostgreSQL at
 * 127.0.0.1:5432/test (user postgres, trust auth) when the system property {@code troupe.test.journal}
 * is {@code postgres} (set by the Maven profile {@code -Ppostgres}).
 */
public final class TestJournal {
    public static final String PG_URL = "jdbc:postgresql://127.0.0.1:5432/test";

    final Path dir;

    public TestJournal(Path dir) {
        this.dir = dir;
    }

    public static boolean postgres() {
        return "postgres".equals(System.getProperty("troupe.test.journal", "h2"));
    }

    public Config config() {
        Config journal = postgres() ? JournalConfig.postgres(PG_URL, "postgres", "") : JournalConfig.h2(dir.resolve("journal"));
        return ConfigFactory.parseString("pekko.loglevel = WARNING\npekko.coordinated-shutdown.exit-jvm = off")
                .withFallback(journal)
                .withFallback(ConfigFactory.load());
    }

    public ActorSystem<Void> start(String name) throws Exception {
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), name, config());
        SchemaUtils.createIfNotExists(system).toCompletableFuture().get(30, TimeUnit.SECONDS);
        return system;
    }

    public static void stop(ActorSystem<?> system) throws Exception {
        if (system == null) return;
        system.terminate();
        system.getWhenTerminated().toCompletableFuture().get(Duration.ofSeconds(20).toMillis(), TimeUnit.MILLISECONDS);
    }

    public Connection connect() throws SQLException {
        return postgres()
                ? DriverManager.getConnection(PG_URL, "postgres", "")
                : DriverManager.getConnection(JournalConfig.h2Url(dir.resolve("journal")), "sa", "");
    }

    public long count(String table, String persistenceId) throws SQLException {
        try (Connection c = connect();
             PreparedStatement ps = c.prepareStatement("select count(*) from " + table + " where persistence_id = ?")) {
            ps.setString(1, persistenceId);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    /** The stored bytes of each event (in sequence order) and its serializer manifest. */
    public List<String[]> payloads(String persistenceId) throws SQLException {
        try (Connection c = connect();
             PreparedStatement ps = c.prepareStatement("select event_payload, event_ser_manifest from event_journal"
                     + " where persistence_id = ? order by sequence_number")) {
            ps.setString(1, persistenceId);
            List<String[]> out = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(new String[] {new String(rs.getBytes(1), java.nio.charset.StandardCharsets.UTF_8), rs.getString(2)});
                }
            }
            return out;
        }
    }

    /** Physically deletes events with sequence number <= upTo; returns how many. */
    public int deleteEventsUpTo(String persistenceId, long upTo) throws SQLException {
        try (Connection c = connect();
             PreparedStatement ps = c.prepareStatement(
                     "delete from event_journal where persistence_id = ? and sequence_number <= ?")) {
            ps.setString(1, persistenceId);
            ps.setLong(2, upTo);
            return ps.executeUpdate();
        }
    }

    /** Removes this persistence id's rows (event_tag rows go by cascade). */
    public void delete(String persistenceId) throws SQLException {
        try (Connection c = connect()) {
            for (String table : List.of("event_journal", "snapshot")) {
                try (PreparedStatement ps = c.prepareStatement("delete from " + table + " where persistence_id = ?")) {
                    ps.setString(1, persistenceId);
                    ps.executeUpdate();
                }
            }
        }
    }
}
