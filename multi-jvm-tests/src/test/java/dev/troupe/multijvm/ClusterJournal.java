package dev.troupe.multijvm;

import org.junit.jupiter.api.Assumptions;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;

/** A fresh PostgreSQL database (127.0.0.1:5432, trust auth) for one cluster test: the nodes' shared journal. */
final class ClusterJournal implements AutoCloseable {
    private static final String SERVER = "jdbc:postgresql://127.0.0.1:5432/";
    final String database;

    private ClusterJournal(String database) {
        this.database = database;
    }

    /** Skips the calling test (reported) when no PostgreSQL server answers. */
    static ClusterJournal create() throws Exception {
        String db = "troupe_mjvm_" + Long.toHexString(System.nanoTime());
        try (Connection c = DriverManager.getConnection(SERVER + "test", "postgres", ""); Statement s = c.createStatement()) {
            s.execute("CREATE DATABASE " + db);
        } catch (java.sql.SQLException e) {
            Assumptions.abort("PostgreSQL at 127.0.0.1:5432 is needed for cluster tests: " + e.getMessage());
        }
        return new ClusterJournal(db);
    }

    String url() {
        return SERVER + database;
    }

    @Override
    public void close() throws Exception {
        try (Connection c = DriverManager.getConnection(SERVER + "test", "postgres", ""); Statement s = c.createStatement()) {
            s.execute("DROP DATABASE IF EXISTS " + database + " WITH (FORCE)");
        }
    }
}
