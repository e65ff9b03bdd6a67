package dev.troupe.actors.slice;

import dev.troupe.actors.wire.CrossNode;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * One device share of a worker (on a CPU node: a memory budget and a set of engine threads) as an entity:
 * the one place that decides which replicas its memory holds. Placement plans on announcements that may
 * lag (two models placed at once, a replica still unloading); a replica loads only after its slice
 * granted the bytes it needs, so a slice is never overcommitted whatever placement believed.
 */
public final class GpuSlice extends AbstractBehavior<GpuSlice.Command> {

    public interface Command extends CrossNode {}

    /** Hold bytes for a replica (again: its reservation becomes bytes). */
    public record Reserve(String replica, long bytes, ActorRef<ReserveReply> replyTo) implements Command {}

    public sealed interface ReserveReply extends CrossNode permits Granted, Refused {}

    /** The replica holds its bytes; it runs its forward pass on threads engine threads. */
    public record Granted(String slice, String replica, int threads) implements ReserveReply {}

    /** Not enough memory free for the replica: what it needs, what is free and what the slice has in all. */
    public record Refused(String slice, String replica, long needBytes, long freeBytes, long totalBytes) implements ReserveReply {
        public String reason() {
            if (totalBytes == 0) return "slice " + slice + " does not exist on its node (its node runs fewer slices now)";
            return "slice " + slice + " has " + freeBytes + " of " + totalBytes + " bytes free, replica " + replica
                    + " needs " + needBytes;
        }
    }

    /** The replica was unloaded: its bytes are free again. Releasing a replica that holds nothing is harmless. */
    public record Release(String replica) implements Command {}

    public record GetStatus(ActorRef<Status> replyTo) implements Command {}

    /** The slice now: its reservations by replica. */
    public record Status(String id, String node, long totalBytes, int threads, Map<String, Long> reservations) implements CrossNode {
        public Status {
            reservations = Map.copyOf(reservations);
        }

        public long reservedBytes() {
            long sum = 0;
            for (long b : reservations.values()) sum += b;
            return sum;
        }

        public long freeBytes() {
            return totalBytes - reservedBytes();
        }
    }

    private final String id;
    private final String node;
    private final long totalBytes;
    private final int threads;
    private final Consumer<Status> onChange;
    private final Map<String, Long> reservations = new TreeMap<>();

    /**
     * @param onChange told of every change (and the first state) on this actor's thread: how the node
     *                 announces its slices without asking them
     */
    public static Behavior<Command> create(String id, String node, long totalBytes, int threads, Consumer<Status> onChange) {
        return create(id, node, totalBytes, threads, Map.of(), onChange);
    }

    /** A slice id its node does not have (a stale id after the node restarted with fewer slices): it refuses every reservation. */
    public static Behavior<Command> unknown(String id, String node) {
        return Behaviors.receive(Command.class)
                .onMessage(Reserve.class, r -> {
                    r.replyTo().tell(new Refused(id, r.replica(), r.bytes(), 0, 0));
                    return Behaviors.same();
                })
                .onMessage(GetStatus.class, g -> {
                    g.replyTo().tell(new Status(id, node, 0, 0, Map.of()));
                    return Behaviors.same();
                })
                .onMessage(Release.class, r -> Behaviors.same())
                .build();
    }

    /** A slice that starts again holding reservations (what it held before its entity stopped). */
    public static Behavior<Command> create(String id, String node, long totalBytes, int threads, Map<String, Long> reservations,
                                           Consumer<Status> onChange) {
        if (totalBytes <= 0) throw new IllegalArgumentException("slice " + id + ": memory must be > 0 bytes, got " + totalBytes);
        if (threads < 1) throw new IllegalArgumentException("slice " + id + ": threads must be >= 1, got " + threads);
        return Behaviors.setup(ctx -> new GpuSlice(ctx, id, node, totalBytes, threads, reservations, onChange));
    }

    private GpuSlice(ActorContext<Command> ctx, String id, String node, long totalBytes, int threads, Map<String, Long> reservations,
                     Consumer<Status> onChange) {
        super(ctx);
        this.id = id;
        this.node = node;
        this.totalBytes = totalBytes;
        this.threads = threads;
        this.onChange = onChange;
        this.reservations.putAll(reservations);
        onChange.accept(status());
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Reserve.class, this::onReserve)
                .onMessage(Release.class, this::onRelease)
                .onMessage(GetStatus.class, this::onGetStatus)
                .build();
    }

    private Behavior<Command> onReserve(Reserve r) {
        long free = totalBytes - reservedExcept(r.replica());
        if (r.bytes() < 0 || r.bytes() > free) {
            r.replyTo().tell(new Refused(id, r.replica(), r.bytes(), free, totalBytes));
            return this;
        }
        Long before = reservations.put(r.replica(), r.bytes());
        if (before == null || before != r.bytes()) onChange.accept(status());
        r.replyTo().tell(new Granted(id, r.replica(), threads));
        return this;
    }

    private Behavior<Command> onRelease(Release r) {
        if (reservations.remove(r.replica()) != null) onChange.accept(status());
        return this;
    }

    private Behavior<Command> onGetStatus(GetStatus g) {
        g.replyTo().tell(status());
        return this;
    }

    private long reservedExcept(String replica) {
        long sum = 0;
        for (Map.Entry<String, Long> e : reservations.entrySet()) if (!e.getKey().equals(replica)) sum += e.getValue();
        return sum;
    }

    private Status status() {
        return new Status(id, node, totalBytes, threads, reservations);
    }
}
