package dev.troupe.multijvm;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import org.apache.pekko.actor.ActorRef;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Leave;
import org.apache.pekko.serialization.JSerializer;

import java.nio.file.Files;
import java.util.concurrent.TimeUnit;

/**
 * A JVM that joins a Troupe cluster and sends a node a message whose bytes name a class id the wire does not
 * know (as a node of another release, or a hostile peer, would), then leaves. Run by {@code ClusterIT} as
 * its own process: {@code Intruder SEED_HOST:PORT TARGET_HOST:PORT}.
 */
public final class Intruder {
    private Intruder() {}

    /** Sent with the wire format's serializer id but an unregistered class id in its bytes. */
    public record Sneaky(String note) {}

    /** Writes what the wire serializer would for a class registered (here only) under id 999. */
    public static final class Forger extends JSerializer {
        public Forger(ExtendedActorSystem system) {}

        @Override
        public int identifier() {
            return 740_001; // the wire format's (KryoSerializer.IDENTIFIER)
        }

        @Override
        public boolean includeManifest() {
            return false;
        }

        @Override
        public byte[] toBinary(Object o) {
            // Kryo writes a registered class as the varint of its id + 2: 1001 = 0xE9 0x07.
            return new byte[]{(byte) 0xE9, 0x07, 0x01, 0x02, 0x03};
        }

        @Override
        public Object fromBinaryJava(byte[] bytes, Class<?> manifest) {
            throw new UnsupportedOperationException("the intruder reads nothing");
        }
    }

    public static void main(String[] args) throws Exception {
        String seed = args[0];
        String target = args[1];
        Config c = ConfigFactory.parseString(String.join("\n",
                        "pekko.actor.provider = cluster",
                        "pekko.remote.artery.transport = aeron-udp",
                        "pekko.remote.artery.canonical.hostname = \"127.0.0.1\"",
                        "pekko.remote.artery.canonical.port = 0",
                        "pekko.remote.artery.advanced.aeron.embedded-media-driver = on",
                        "pekko.remote.artery.advanced.aeron.aeron-dir = \"" + Files.createTempDirectory("intruder-aeron").resolve("d") + "\"",
                        "pekko.remote.artery.advanced.aeron.delete-aeron-dir = yes",
                        "pekko.remote.artery.advanced.aeron.idle-cpu-level = 1",
                        "pekko.cluster.seed-nodes = [\"pekko://troupe@" + seed + "\"]",
                        "pekko.cluster.roles = [intruder]",
                        "pekko.cluster.downing-provider-class = \"org.apache.pekko.cluster.sbr.SplitBrainResolverProvider\"",
                        "pekko.coordinated-shutdown.exit-jvm = off",
                        // The wire format's serializer name and id, with the forger behind them (ids must be unique).
                        "pekko.actor.serializers.troupe-kryo = \"dev.troupe.multijvm.Intruder$Forger\"",
                        "pekko.actor.serialization-bindings { \"dev.troupe.multijvm.Intruder$Sneaky\" = troupe-kryo }"))
                .withFallback(ConfigFactory.load()).resolve();
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "troupe", c);
        Cluster cluster = Cluster.get(system);
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (cluster.selfMember().status() != MemberStatus.up()) {
            if (System.nanoTime() > until) throw new IllegalStateException("did not join " + seed);
            Thread.sleep(50);
        }
        // To the node's stream receiver, a system actor every node runs.
        Adapter.toClassic(system).actorSelection("pekko://troupe@" + target + "/system/replica-streams")
                .tell(new Sneaky("not on the list"), ActorRef.noSender());
        Thread.sleep(2000);
        System.out.println("intruder: sent");
        cluster.manager().tell(Leave.create(cluster.selfMember().address()));
        Thread.sleep(2000);
        system.terminate();
        system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
        System.out.println("intruder: left");
        System.exit(0);
    }
}
