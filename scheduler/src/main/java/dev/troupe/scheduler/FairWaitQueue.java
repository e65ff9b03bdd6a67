package dev.troupe.scheduler;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;

/**
 * Weighted fair admission between tenants: one FIFO per tenant, and the next admission goes to a waiting
 * tenant chosen by two rules, the first deciding:
 * <ol>
 * <li><b>Slots.</b> A tenant holding fewer running slots than the floor of its fair share,
 *     floor(slots × weight / Σ weights of the active tenants), goes before those that do not. Every running
 *     sequence decodes one token per step, so slot shares are generated-token shares.</li>
 * <li><b>Service.</b> Then the least service per unit of weight (start-time fair queuing over tokens):
 *     service is what the scheduler {@link #charge charges}, every position computed for the tenant's
 *     sequences (prefill chunks, recomputation after a preemption, decode tokens) divided by its weight.
 *     This shares the slots left over by the floors and orders the tenants below their floors.</li>
 * </ol>
 * Remaining ties go to the tenant holding fewer slots per unit of weight, then to the older tenant.
 *
 * <ul>
 * <li><b>No banked credit.</b> A tenant that was idle (nothing running or waiting) starts again at the
 *     current virtual time, max(the least virtual time among waiting tenants, the virtual time of the
 *     latest admission), never below it: being idle for an hour does not buy an hour of the node.</li>
 * <li><b>Flood protection</b> ({@link #slotVictim}): when every slot is taken and the tenant to admit next
 *     is below the floor of its share, the youngest running sequence of the tenant most above its own
 *     share is preempted and the slot goes to the waiting tenant. The victim's tenant stays at or above
 *     the floor of its share, and admission keeps to the floors too, so preemptions do not bounce
 *     between tenants: they happen when a tenant arrives, not in the steady state.</li>
 * <li>With a single tenant it is exactly {@link FifoWaitQueue}.</li>
 * </ul>
 * A tenant's weight is the one its latest request gave. Loop thread only; no allocation per token.
 */
public final class FairWaitQueue<T> implements WaitQueue<T> {
    /** Beyond this many remembered tenants, idle ones holding no advantage or debt are forgotten. */
    private static final int PRUNE_ABOVE = 1024;

    private static final class Tenant<T> {
        final String name;
        int weight = 1;
        /** Service per unit of weight, clamped up when the tenant becomes active. */
        double virtualTime;
        long chargedTokens;
        int running;
        final ArrayDeque<ScheduledSequence<T>> waiting = new ArrayDeque<>();

        Tenant(String name) { this.name = name; }

        boolean active() { return running > 0 || !waiting.isEmpty(); }
    }

    private final int slots;
    private final HashMap<String, Tenant<T>> byName = new HashMap<>();
    private final ArrayList<Tenant<T>> tenants = new ArrayList<>(); // creation order
    private int size;
    /** Σ weights of the tenants with something running or waiting. */
    private long activeWeight;
    /** Virtual time of the latest admission, never decreasing. */
    private double virtualNow;
    /** The tenant a slot was just freed for by {@link #slotVictim}: admitted next, whatever the order says. */
    private Tenant<T> owed;
    private long slotPreemptions;

    /** @param slots the scheduler's most running sequences (maxNumSeqs), which the fair shares divide */
    public FairWaitQueue(int slots) {
        if (slots < 1) throw new IllegalArgumentException("slots must be >= 1, got " + slots);
        this.slots = slots;
    }

    @Override
    public void add(ScheduledSequence<T> seq) {
        arrive(seq).waiting.addLast(seq);
    }

    @Override
    public void addResumed(ScheduledSequence<T> seq) {
        arrive(seq).waiting.addFirst(seq);
    }

    /** Counts a newly arrived sequence in its tenant (active from now on) and returns the tenant. */
    private Tenant<T> arrive(ScheduledSequence<T> seq) {
        Tenant<T> t = byName.get(seq.tenant());
        if (t == null) t = newTenant(seq.tenant());
        if (t.active()) {
            activeWeight += seq.weight() - t.weight;
        } else {
            t.virtualTime = Math.max(t.virtualTime, currentVirtualTime());
            activeWeight += seq.weight();
        }
        t.weight = seq.weight();
        seq.queueTag = t;
        size++;
        return t;
    }

    @Override
    public void addFirst(ScheduledSequence<T> seq) {
        Tenant<T> t = tenantOf(seq);
        if (t.running > 0) t.running--;
        t.waiting.addFirst(seq);
        size++;
    }

    @Override
    public ScheduledSequence<T> peek() {
        Tenant<T> t = nextTenant();
        return t == null ? null : t.waiting.peekFirst();
    }

    @Override
    public ScheduledSequence<T> poll() {
        Tenant<T> t = nextTenant();
        if (t == null) return null;
        ScheduledSequence<T> seq = t.waiting.pollFirst();
        size--;
        t.running++;
        if (t == owed) owed = null;
        virtualNow = Math.max(virtualNow, t.virtualTime);
        return seq;
    }

    @Override
    public boolean remove(ScheduledSequence<T> seq) {
        if (!(seq.queueTag instanceof Tenant<?> tag)) return false;
        @SuppressWarnings("unchecked") Tenant<T> t = (Tenant<T>) tag;
        if (!t.waiting.remove(seq)) return false;
        size--;
        if (t == owed && t.waiting.isEmpty()) owed = null;
        if (!t.active()) activeWeight -= t.weight;
        return true;
    }

    @Override
    public int size() { return size; }

    @Override
    public void released(ScheduledSequence<T> seq) {
        Tenant<T> t = tenantOf(seq);
        if (t.running > 0) t.running--;
        if (!t.active()) activeWeight -= t.weight;
    }

    @Override
    public void charge(ScheduledSequence<T> seq, int tokens) {
        Tenant<T> t = tenantOf(seq);
        t.virtualTime += (double) tokens / t.weight;
        t.chargedTokens += tokens;
    }

    @Override
    public ScheduledSequence<T> slotVictim(List<ScheduledSequence<T>> running) {
        if (owed != null) return null; // the last freed slot has not been taken yet
        Tenant<T> next = nextTenant();
        if (next == null || !belowFloorShare(next)) return null;
        Tenant<T> over = null;
        for (int i = 0; i < tenants.size(); i++) {
            Tenant<T> t = tenants.get(i);
            if (t == next || t.running == 0) continue;
            if ((long) t.running * activeWeight <= (long) slots * t.weight) continue; // not above its share
            if (over == null || (long) t.running * over.weight > (long) over.running * t.weight) over = t;
        }
        if (over == null) return null;
        for (int i = running.size() - 1; i >= 0; i--) {
            ScheduledSequence<T> s = running.get(i);
            if (s.queueTag == over) {
                owed = next;
                slotPreemptions++;
                return s;
            }
        }
        return null;
    }

    /** The youngest running sequence of the tenant holding the most slots per unit of weight. */
    @Override
    public ScheduledSequence<T> kvVictim(List<ScheduledSequence<T>> running) {
        Tenant<T> over = null;
        for (int i = 0; i < tenants.size(); i++) {
            Tenant<T> t = tenants.get(i);
            if (t.running == 0) continue;
            if (over == null || (long) t.running * over.weight > (long) over.running * t.weight) over = t;
        }
        for (int i = running.size() - 1; i >= 0 && over != null; i--) {
            if (running.get(i).queueTag == over) return running.get(i);
        }
        return running.get(running.size() - 1);
    }

    /** Sequences preempted by {@link #slotVictim} so far. */
    public long slotPreemptions() { return slotPreemptions; }

    /** Tokens charged to a tenant so far (0 for one never seen or forgotten while idle). */
    public long chargedTokens(String tenant) {
        Tenant<T> t = byName.get(tenant);
        return t == null ? 0 : t.chargedTokens;
    }

    /** Running < floor(slots × weight / active weight)  ⇔  (running + 1) × active weight ≤ slots × weight. */
    private boolean belowFloorShare(Tenant<T> t) {
        return (t.running + 1L) * activeWeight <= (long) slots * t.weight;
    }

    /** The waiting tenant to admit from next: the owed one, else by the class rules. */
    private Tenant<T> nextTenant() {
        if (owed != null && !owed.waiting.isEmpty()) return owed;
        Tenant<T> best = null;
        boolean bestBelow = false;
        for (int i = 0; i < tenants.size(); i++) {
            Tenant<T> t = tenants.get(i);
            if (t.waiting.isEmpty()) continue;
            boolean below = belowFloorShare(t);
            if (best == null || (below && !bestBelow)) {
                best = t;
                bestBelow = below;
            } else if (below == bestBelow && (t.virtualTime < best.virtualTime || (t.virtualTime == best.virtualTime
                    && (long) t.running * best.weight < (long) best.running * t.weight))) {
                best = t;
            }
        }
        return best;
    }

    /** Where a tenant that becomes active starts: max(least virtual time among waiting tenants, latest admission's). */
    private double currentVirtualTime() {
        double least = Double.POSITIVE_INFINITY;
        for (int i = 0; i < tenants.size(); i++) {
            Tenant<T> t = tenants.get(i);
            if (!t.waiting.isEmpty() && t.virtualTime < least) least = t.virtualTime;
        }
        return least == Double.POSITIVE_INFINITY ? virtualNow : Math.max(least, virtualNow);
    }

    private Tenant<T> newTenant(String name) {
        if (tenants.size() >= PRUNE_ABOVE) {
            // An idle tenant at or below the current virtual time would be clamped up to it anyway: nothing is lost.
            double now = currentVirtualTime();
            for (int i = tenants.size() - 1; i >= 0; i--) {
                Tenant<T> t = tenants.get(i);
                if (!t.active() && t.virtualTime <= now) {
                    tenants.remove(i);
                    byName.remove(t.name);
                }
            }
        }
        Tenant<T> t = new Tenant<>(name);
        byName.put(name, t);
        tenants.add(t);
        return t;
    }

    @SuppressWarnings("unchecked")
    private Tenant<T> tenantOf(ScheduledSequence<T> seq) {
        if (seq.queueTag instanceof Tenant<?> t) return (Tenant<T>) t;
        throw new IllegalStateException(seq + " was never added to this queue");
    }
}
