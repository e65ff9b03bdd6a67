package dev.troupe.node.http;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;

class ConnectionScopeTest {

    @Test
    void aCloseRunsWhatIsStillRegisteredOnce() {
        ConnectionScope scope = new ConnectionScope();
        AtomicInteger a = new AtomicInteger(), b = new AtomicInteger();
        ConnectionScope.Registration ra = scope.onClose(a::incrementAndGet);
        scope.onClose(b::incrementAndGet);
        ra.remove();
        ra.remove();
        assertEquals(1, scope.pending());
        scope.close();
        scope.close();
        assertEquals(0, a.get(), "a removed registration does not run");
        assertEquals(1, b.get());
        assertEquals(0, scope.pending());
    }

    @Test
    void registeringOnAClosedConnectionRunsAtOnceAndAFailingActionStopsNoOther() {
        ConnectionScope scope = new ConnectionScope();
        AtomicInteger ran = new AtomicInteger();
        scope.onClose(() -> { throw new IllegalStateException("boom"); });
        scope.onClose(ran::incrementAndGet);
        scope.close();
        assertEquals(1, ran.get());
        scope.onClose(ran::incrementAndGet);
        assertEquals(2, ran.get(), "the connection is gone already");
    }

    @Test
    void requestsThatEndRemoveTheirRegistrationsSoALongConnectionHoldsNone() {
        ConnectionScope scope = new ConnectionScope();
        for (int i = 0; i < 10_000; i++) scope.onClose(() -> { }).remove();
        assertEquals(0, scope.pending());
        assertEquals(0, ConnectionScope.NONE.pending());
        ConnectionScope.NONE.onClose(() -> { throw new AssertionError("NONE never closes"); });
        assertEquals(0, ConnectionScope.NONE.pending());
    }
}
