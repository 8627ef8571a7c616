package dev.keymanager.cli;

import java.io.PrintWriter;
import java.time.Duration;

/**
 * Shows rewrap progress on stderr: a redrawn bar (count, rate, ETA) on a terminal, otherwise one
 * plain line every {@code every} items and one at the end.
 */
final class ProgressReporter {
  private final PrintWriter err;
  private final boolean terminal;
  private final long total;
  private final long every;
  private final long startPosition;
  private final long startNanos = System.nanoTime();
  private long lastDraw;

  ProgressReporter(PrintWriter err, boolean terminal, long total, long every, long startPosition) {
    this.err = err;
    this.terminal = terminal;
    this.total = total;
    this.every = Math.max(1, every);
    this.startPosition = startPosition;
  }

  void update(long done, long rewrapped, long unchanged) {
    if (terminal) {
      long now = System.nanoTime();
      if (now - lastDraw > 100_000_000L || done == total) {
        lastDraw = now;
        err.print("\r" + bar(done) + " " + line(done, rewrapped, unchanged));
        err.flush();
      }
    } else if (done % every == 0 && done != total) {
      err.println("rewrap: " + line(done, rewrapped, unchanged));
      err.flush();
    }
  }

  void finish(long done, long rewrapped, long unchanged) {
    if (terminal) {
      err.println("\r" + bar(done) + " " + line(done, rewrapped, unchanged));
    } else {
      err.println("rewrap: " + line(done, rewrapped, unchanged));
    }
    err.flush();
  }

  private String bar(long done) {
    int width = 30;
    int filled = total == 0 ? width : (int) (width * done / total);
    return "[" + "#".repeat(filled) + "-".repeat(width - filled) + "]";
  }

  private String line(long done, long rewrapped, long unchanged) {
    double seconds = Math.max(1e-3, (System.nanoTime() - startNanos) / 1e9);
    double rate = (done - startPosition) / seconds;
    String eta =
        rate > 0 && done < total
            ? format(Duration.ofSeconds((long) Math.ceil((total - done) / rate)))
            : "0s";
    return String.format(
        "%d/%d done (%d rewrapped, %d unchanged), %.0f/s, ETA %s",
        done, total, rewrapped, unchanged, rate, eta);
  }

  private static String format(Duration d) {
    long s = d.getSeconds();
    return s >= 3600
        ? String.format("%dh%02dm", s / 3600, (s % 3600) / 60)
        : s >= 60 ? String.format("%dm%02ds", s / 60, s % 60) : s + "s";
  }
}
