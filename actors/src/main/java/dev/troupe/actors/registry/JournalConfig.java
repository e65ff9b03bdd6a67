package dev.troupe.actors.registry;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import java.nio.file.Path;

/**
 * Pekko config for the pekko-persistence-jdbc journal, snapshot store and read journal sharing one Slick
 * database: an H2 file (single node, no server) or PostgreSQL (cluster). The tables are not created by the
 * plugin; call {@code org.apache.pekko.persistence.jdbc.testkit.javadsl.SchemaUtils.createIfNotExists(system)}.
 */
public final class JournalConfig {
    private JournalConfig() {}

    /**
     * The journal a node's {@code troupe.journal} settings name: {@code kind = h2} (a file under the data
     * directory, no server) or {@code kind = postgres} ({@code troupe.journal.postgres.url/user/password}).
     */
    public static Config fromSettings(Config c, Path dataDir) {
        String kind = c.getString("troupe.journal.kind");
        return switch (kind) {
            case "h2" -> h2(dataDir.resolve("journal"));
            case "postgres" -> postgres(c.getString("troupe.journal.postgres.url"), c.getString("troupe.journal.postgres.user"),
                    c.getString("troupe.journal.postgres.password"));
            default -> throw new IllegalArgumentException("troupe.journal.kind must be h2 or postgres, got '" + kind + "'");
        };
    }

    /** Snapshot after every {@code every} events, keeping two; 0 = no snapshots (the entities' common policy). */
    public static org.apache.pekko.persistence.typed.javadsl.RetentionCriteria snapshots(int every) {
        return every > 0 ? org.apache.pekko.persistence.typed.javadsl.RetentionCriteria.snapshotEvery(every, 2)
                : org.apache.pekko.persistence.typed.javadsl.RetentionCriteria.disabled();
    }

    /** H2 file database at {@code file} (an absolute path without the {@code .mv.db} suffix). */
    public static Config h2(Path file) {
        return jdbc("slick.jdbc.H2Profile$", "org.h2.Driver", h2Url(file), "sa", "");
    }

    /** The JDBC URL {@link #h2(Path)} uses (also for plain JDBC access to the same file). */
    public static String h2Url(Path file) {
        // WRITE_DELAY=0: H2 otherwise keeps committed changes in memory for up to 500 ms, so a node killed
        // with SIGKILL right after acknowledging an admin change would lose it (RestartIT caught this).
        return "jdbc:h2:file:" + file.toAbsolutePath() + ";DATABASE_TO_UPPER=false;WRITE_DELAY=0";
    }

    /** PostgreSQL, e.g. {@code jdbc:postgresql://127.0.0.1:5432/test}. */
    public static Config postgres(String url, String user, String password) {
        return jdbc("slick.jdbc.PostgresProfile$", "org.postgresql.Driver", url, user, password);
    }

    private static Config jdbc(String profile, String driver, String url, String user, String password) {
        Config base = ConfigFactory.parseString("""
                pekko.persistence.journal.plugin = "jdbc-journal"
                pekko.persistence.snapshot-store.plugin = "jdbc-snapshot-store"
                pekko-persistence-jdbc.shared-databases.slick {
                  db {
                    numThreads = 2
                    maxConnections = 2
                    minConnections = 1
                    connectionTimeout = 10s
                  }
                }
                jdbc-journal.use-shared-db = "slick"
                jdbc-snapshot-store.use-shared-db = "slick"
                jdbc-read-journal.use-shared-db = "slick"
                jdbc-durable-state-store.use-shared-db = "slick"
                """);
        String p = "pekko-persistence-jdbc.shared-databases.slick.";
        return base
                .withValue(p + "profile", ConfigValueFactory.fromAnyRef(profile))
                .withValue(p + "db.driver", ConfigValueFactory.fromAnyRef(driver))
                .withValue(p + "db.url", ConfigValueFactory.fromAnyRef(url))
                .withValue(p + "db.user", ConfigValueFactory.fromAnyRef(user))
                .withValue(p + "db.password", ConfigValueFactory.fromAnyRef(password));
    }
}
