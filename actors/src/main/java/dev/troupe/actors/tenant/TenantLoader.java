package dev.troupe.actors.tenant;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.RecipientRef;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.persistence.jdbc.query.javadsl.JdbcReadJournal;
import org.apache.pekko.persistence.query.PersistenceQuery;
import org.apache.pekko.stream.javadsl.Sink;

/**
 * Finds every tenant for a starting node: the journal itself is the index (every persistence id under
 * {@code tenant|}), so there is no second entity to keep in step with the tenants. Each tenant's state then
 * comes from its entity (which recovers from its snapshot and events).
 */
public final class TenantLoader {
    private TenantLoader() {}

    /** The ids of all tenants ever created (or addressed) in the journal. */
    public static CompletionStage<List<String>> tenantIds(ActorSystem<?> system) {
        JdbcReadJournal journal = PersistenceQuery.get(system)
                .getReadJournalFor(JdbcReadJournal.class, JdbcReadJournal.Identifier());
        return journal.currentPersistenceIds()
                .filter(id -> id.startsWith(Tenant.PERSISTENCE_PREFIX))
                .map(id -> id.substring(Tenant.PERSISTENCE_PREFIX.length()))
                .runWith(Sink.seq(), system);
    }

    /** Loads every tenant's current state into the directory; completes with how many exist. */
    public static CompletionStage<Integer> loadAll(ActorSystem<?> system, Function<String, RecipientRef<Tenant.Command>> entities,
                                                   TenantDirectory directory, Duration timeout) {
        return tenantIds(system).thenCompose(ids -> {
            List<CompletableFuture<Tenant.Reply>> replies = new ArrayList<>();
            for (String id : ids) {
                replies.add(AskPattern.<Tenant.Command, Tenant.Reply>ask(entities.apply(id), Tenant.GetState::new, timeout,
                        system.scheduler()).toCompletableFuture());
            }
            return CompletableFuture.allOf(replies.toArray(new CompletableFuture[0])).thenApply(v -> {
                int n = 0;
                for (CompletableFuture<Tenant.Reply> r : replies) {
                    Tenant.State s = ((Tenant.Reply.Current) r.join()).state();
                    if (s.exists()) {
                        directory.update(s);
                        n++;
                    }
                }
                return n;
            });
        });
    }
}
