package dev.troupe.engine.tp;

import dev.troupe.engine.Batch;
import dev.troupe.engine.LlamaModel;
import org.agrona.concurrent.Agent;
import org.agrona.concurrent.AgentRunner;
import org.agrona.concurrent.AgentTerminationException;

/**
 * A follower slice's loop: takes each step its leader sends and runs it on its share of the model (the
 * exchanges inside the step happen in {@link LlamaModel#forward}). Ends when the leader stops the group,
 * the leader is lost, or a step's exchange fails.
 */
public final class TensorFollowerAgent implements Agent {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(TensorFollowerAgent.class);
    private final LlamaModel model;
    private final TensorExchange exchange;
    private final Batch batch;
    private final long joinDeadline;
    private volatile int endStatus = TensorExchange.OK;
    private volatile boolean ended;

    /** A follower whose leader must connect within joinTimeoutNs (it may load after the follower). */
    public TensorFollowerAgent(LlamaModel model, TensorExchange exchange, long joinTimeoutNs) {
        this.model = model;
        this.exchange = exchange;
        this.batch = new Batch(model.maxBatchTokens());
        this.joinDeadline = System.nanoTime() + joinTimeoutNs;
    }

    @Override
    public int doWork() {
        int status = exchange.pollStep(batch, model.kvCache());
        if (status == TensorExchange.NOTHING) {
            if (!exchange.leaderSeen() && System.nanoTime() - joinDeadline > 0) return end(TensorExchange.PEER_LOST);
            return 0;
        }
        if (status != TensorExchange.OK) return end(status);
        try {
            model.forward(batch);
        } catch (TensorGroupLostException e) {
            return end(e.status());
        }
        return 1;
    }

    private int end(int status) {
        endStatus = status;
        throw new AgentTerminationException(TensorExchange.describe(status));
    }

    /** Starts a follower's loop on a thread of its own (named after its role); a failure other than its end is logged. */
    public static AgentRunner start(TensorFollowerAgent agent) {
        AgentRunner runner = new AgentRunner(TensorTransport.idleStrategy(), e -> {
            if (!(e instanceof AgentTerminationException)) log.error("{} failed", agent.roleName(), e);
        }, null, agent);
        AgentRunner.startOnThread(runner);
        return runner;
    }

    /** Why the loop ended: {@link TensorExchange#STOPPED} when the leader ended it; OK while it runs. */
    public int endStatus() { return endStatus; }

    /** Whether the loop has ended (its thread is done with the model). */
    public boolean ended() { return ended; }

    @Override
    public void onClose() {
        ended = true;
    }

    @Override
    public String roleName() {
        return "troupe-tp-follower-" + exchange.rank();
    }
}
