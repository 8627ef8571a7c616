package dev.keymanager.bench;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * The CPU time a benchmark thread spent per operation, beside JMH's wall-clock time: on a shared
 * machine a descheduled thread inflates wall-clock time per operation by however long others ran,
 * while its own CPU time stays the cost of the code. The report divides {@link #cpuNanos} by {@link
 * #ops}; each benchmark method counts its operations with {@link #op()}.
 *
 * <p>Both counters cover the same window, from this thread's iteration set-up to its tear-down, so
 * the synchronisation loops JMH runs around a measured iteration count in both.
 */
@AuxCounters(AuxCounters.Type.EVENTS)
@State(Scope.Thread)
public class CpuTime {
  private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

  public long cpuNanos;
  public long ops;
  private long start;

  @Setup(Level.Iteration)
  public void start() {
    ops = 0;
    cpuNanos = 0;
    start = THREADS.getCurrentThreadCpuTime();
  }

  @TearDown(Level.Iteration)
  public void stop() {
    cpuNanos = THREADS.getCurrentThreadCpuTime() - start;
  }

  void op() {
    ops++;
  }
}
