package dev.troupe.example;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.troupe.embed.Troupe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

import java.nio.file.Path;
import java.time.Duration;

/**
 * A small Pekko typed application with Troupe embedded: its own actor system and config, Troupe started in
 * it, and an actor of its own ({@link Storyteller}) that generates through Troupe. Run it with
 * {@code java --add-modules jdk.incubator.vector -cp ... dev.troupe.example.HostApp MODEL.gguf} (without the
 * flag the engine runs its scalar kernels, slower, and logs so).
 */
public final class HostApp {
    private HostApp() {}

    /** The host's system (Troupe's config needs folded in) with Troupe and the storyteller actor. */
    public record Running(ActorSystem<Void> system, Troupe troupe, ActorRef<Storyteller.Command> storyteller) {
        public Storyteller.Stories tell(String first, String second, int maxTokens) {
            return AskPattern.<Storyteller.Command, Storyteller.Stories>ask(storyteller,
                    to -> new Storyteller.TellStories(first, second, maxTokens, to), Duration.ofSeconds(60), system.scheduler())
                    .toCompletableFuture().join();
        }

        /** The host's coordinated shutdown, which stops Troupe with it. */
        public void stop() {
            system.terminate();
            system.getWhenTerminated().toCompletableFuture().join();
        }
    }

    public static Running start(Path model, Config config) {
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "stories", Troupe.config(config));
        Troupe troupe = Troupe.start(system, model, "stories");
        ActorRef<Storyteller.Command> storyteller = system.systemActorOf(Storyteller.create(troupe, "stories"), "storyteller",
                org.apache.pekko.actor.typed.Props.empty());
        return new Running(system, troupe, storyteller);
    }

    public static void main(String[] args) {
        Running app = start(Path.of(args[0]), ConfigFactory.load());
        try {
            Storyteller.Stories s = app.tell("Once upon a time", "Lily and Tom", 60);
            System.out.println(s.first());
            System.out.println(s.second());
        } finally {
            app.stop();
        }
    }
}
