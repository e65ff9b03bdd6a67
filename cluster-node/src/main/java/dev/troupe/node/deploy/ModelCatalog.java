package dev.troupe.node.deploy;

import dev.troupe.actors.placement.Placement;
import dev.troupe.actors.registry.ModelRegistry;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.persistence.jdbc.query.javadsl.JdbcReadJournal;
import org.apache.pekko.persistence.query.PersistenceQuery;
import org.apache.pekko.stream.javadsl.Sink;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;

/**
 * Every model this node knows, each followed by its own {@link ModelDeployments} (and canary monitor): the
 * models of the whole cluster, not just one file the node was started with. A model is followed from the
 * first time the node hears of it: found in the journal at start-up, a registry change published by any
 * node, a placement naming it, or a version registered through this node's admin API.
 */
public final class ModelCatalog implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ModelCatalog.class);

    /** One model on this node: its deployments and the canary monitor watching them. */
    public record Entry(ModelDeployments deployments, CanaryMonitor canary) {
        public String name() {
            return deployments.model();
        }
    }

    private final ActorSystem<?> system;
    private final Function<String, Entry> start;
    // Guarded by this.
    private final Map<String, Entry> models = new TreeMap<>();
    private Placement.Current placement;
    private boolean closed;

    /** start: makes a new model's entry and starts following its registry (called once per model). */
    public ModelCatalog(ActorSystem<?> system, Function<String, Entry> start) {
        this.system = system;
        this.start = start;
    }

    /** The model's entry, or null when this node has not heard of it. */
    public synchronized Entry get(String name) {
        return models.get(name);
    }

    /** The model's entry, following the model from now on if it was not yet. */
    public Entry follow(String name) {
        Entry e;
        Placement.Current p;
        synchronized (this) {
            if (closed) throw new IllegalStateException("the node is shutting down");
            e = models.get(name);
            if (e != null) return e;
            e = start.apply(name);
            models.put(name, e);
            p = placement;
        }
        log.info("following model '{}'", name);
        if (p != null) e.deployments().followPlacement(p);
        return e;
    }

    /** The models followed, in name order. */
    public synchronized List<Entry> all() {
        return List.copyOf(models.values());
    }

    /** A registry state published by some node. */
    public void followChange(String model, ModelRegistry.State state) {
        follow(model).deployments().follow(state);
    }

    /** The cluster's placement: every model's deployments load and unload what is placed on this node. */
    public void followPlacement(Placement.Current current) {
        synchronized (this) {
            placement = current;
        }
        for (Placement.Placed p : current.assignments()) follow(p.key().model());
        for (Entry e : all()) e.deployments().followPlacement(current);
    }

    /**
     * Follows every model recorded in the journal (the journal is the index: each model has one registry
     * entity, persisted under {@link ModelRegistry#PERSISTENCE_PREFIX}); completes with their names.
     */
    public CompletionStage<List<String>> discover() {
        JdbcReadJournal journal = PersistenceQuery.get(system).getReadJournalFor(JdbcReadJournal.class, JdbcReadJournal.Identifier());
        return journal.currentPersistenceIds()
                .filter(id -> id.startsWith(ModelRegistry.PERSISTENCE_PREFIX))
                .map(id -> id.substring(ModelRegistry.PERSISTENCE_PREFIX.length()))
                .runWith(Sink.seq(), system)
                .thenApply(names -> {
                    for (String n : names) follow(n);
                    return names;
                });
    }

    /** Graceful shutdown: every model's replicas on this node finish their in-flight requests within the grace. */
    public CompletableFuture<Void> drain(Duration grace) {
        List<CompletableFuture<Void>> all = new ArrayList<>();
        for (Entry e : all()) all.add(e.deployments().drain(grace));
        return CompletableFuture.allOf(all.toArray(new CompletableFuture[0]));
    }

    @Override
    public void close() {
        List<Entry> toClose;
        synchronized (this) {
            closed = true;
            toClose = List.copyOf(models.values());
        }
        for (Entry e : toClose) {
            e.canary().close();
            e.deployments().close();
        }
    }
}
