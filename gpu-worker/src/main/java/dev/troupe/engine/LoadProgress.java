package dev.troupe.engine;

import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * How far a model's load is: bytes of weights read and repacked so far, out of all, with the rate. The
 * threads that repack call {@link #add}; every {@code interval} one of them reports: on a terminal a bar
 * redrawn in place, elsewhere a line (a log). Small models load before the first report and say nothing.
 */
public final class LoadProgress {
    private final String what;
    private final long total;
    private final long intervalNanos;
    private final boolean terminal;
    private final Consumer<String> out;
    private final LongSupplier clock;
    private final long start;
    private final AtomicLong done = new AtomicLong();
    private final AtomicLong nextReport;
    private volatile boolean reported;

    public LoadProgress(String what, long totalBytes, long intervalNanos, boolean terminal, Consumer<String> out, LongSupplier clock) {
        this.what = what;
        this.total = Math.max(1, totalBytes);
        this.intervalNanos = intervalNanos;
        this.terminal = terminal;
        this.out = out;
        this.clock = clock;
        this.start = clock.getAsLong();
        this.nextReport = new AtomicLong(start + intervalNanos);
    }

    /** A bar on stderr when it is a terminal, else a log line every 5 s. */
    public static LoadProgress forConsole(String what, long totalBytes, org.slf4j.Logger log) {
        boolean terminal = System.console() != null;
        Consumer<String> sink = terminal ? line -> {
            System.err.print(line);
            System.err.flush();
        } : log::info;
        return new LoadProgress(what, totalBytes, terminal ? 250_000_000L : 5_000_000_000L, terminal, sink, System::nanoTime);
    }

    /** bytes more are read and repacked; reports when the interval has passed (one caller at a time). */
    public void add(long bytes) {
        long d = done.addAndGet(bytes);
        long now = clock.getAsLong(), due = nextReport.get();
        if (now - due >= 0 && nextReport.compareAndSet(due, now + intervalNanos)) report(d, now, false);
    }

    /** The load finished: a terminal's bar is completed and ended (nothing is said if nothing was). */
    public void finish() {
        if (reported && terminal) report(total, clock.getAsLong(), true);
    }

    private void report(long d, long now, boolean last) {
        reported = true;
        double seconds = Math.max(1e-9, (now - start) / 1e9);
        double pct = 100.0 * Math.min(d, total) / total;
        String figures = String.format(Locale.ROOT, "%s: %3.0f%% %,d of %,d MiB, %.0f MiB/s", what, pct, d >> 20, total >> 20, (d >> 20) / seconds);
        if (!terminal) {
            out.accept("loading " + figures);
            return;
        }
        int width = 30, filled = (int) Math.round(width * pct / 100);
        out.accept("\r[" + "#".repeat(filled) + " ".repeat(width - filled) + "] " + figures + (last ? "\n" : ""));
    }
}
