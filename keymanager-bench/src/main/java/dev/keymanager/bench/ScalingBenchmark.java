package dev.keymanager.bench;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * One thread against two, and keymanager against its JCE floor, all four in the same fork and in
 * the same stretch of time: a hot-path operation of {@link HotPathBenchmark} and its floor take
 * turns in phases of {@value #PHASE_MILLIS} ms, first on one thread (the other parks), then on
 * both, round and round. Each phase's CPU time and operations are counted apart ({@link Phases}).
 *
 * <p>Why: on a virtual machine the cost of a second thread depends on where the host runs the two
 * virtual CPUs (two cores, or two hardware threads of one), which can change from one fork to the
 * next; separate benchmarks for one and two threads then measure the host as much as the code, and
 * the raw JCE control, which shares nothing, moves as much as keymanager. Here every ratio is taken
 * within one fork, over phases a tenth of a second apart, so the host's share shows in the floor's
 * own two-thread figure, and a cache line both threads write shows as keymanager's two-thread
 * figure rising above the floor's.
 *
 * <p>Read the counters, not JMH's score (which averages working and parked calls): per fork, {@code
 * keymanagerPairCpuNanos / keymanagerPairOps} over {@code keymanagerSoloCpuNanos /
 * keymanagerSoloOps} is keymanager's CPU per operation at two threads over one, and the same with
 * {@code floor} is the control's. The one-thread phases run with the other thread parked, after
 * two-thread phases: a key both threads used keeps its per-thread stripes, as in an application
 * with a thread pool.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 4, time = 2)
@Fork(3)
@State(Scope.Benchmark)
public class ScalingBenchmark {
  static final long PHASE_MILLIS = 20;
  private static final long PHASE_NANOS = TimeUnit.MILLISECONDS.toNanos(PHASE_MILLIS);
  // The phases of a round, in order: floor on one thread, keymanager on one, floor on both,
  // keymanager on both.
  static final int FLOOR_SOLO = 0;
  static final int KEYMANAGER_SOLO = 1;
  static final int FLOOR_PAIR = 2;
  static final int KEYMANAGER_PAIR = 3;
  private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

  /** The hot-path operation, with its floor: as the benchmarks of {@link HotPathBenchmark}. */
  @Param({"unwrap", "decodeAndUnwrap", "generateDek", "unwrapWorkingSet8"})
  public String operation;

  private final AtomicInteger threads = new AtomicInteger();
  private int op; // the index of operation in OPERATIONS
  private long origin; // nanoTime at which round 0 began; every thread reads the phase from it

  private static final List<String> OPERATIONS =
      List.of("unwrap", "decodeAndUnwrap", "generateDek", "unwrapWorkingSet8");

  @Setup(Level.Trial)
  public void setUp() {
    op = OPERATIONS.indexOf(operation);
    if (op < 0) {
      throw new IllegalArgumentException("unknown operation " + operation);
    }
    origin = System.nanoTime();
  }

  /** The phase at {@code now}. */
  private int phaseAt(long now) {
    return (int) (((now - origin) / PHASE_NANOS) & 3);
  }

  /** Nanos from {@code now} to the end of its phase. */
  private long leftInPhase(long now) {
    return PHASE_NANOS - (now - origin) % PHASE_NANOS;
  }

  /**
   * One thread's CPU time and operations per kind of phase, summed over its phases of the
   * iteration. A thread reads the clock every 16 calls and its CPU time once per phase change, so
   * counting costs both sides alike and next to nothing.
   */
  @AuxCounters(AuxCounters.Type.EVENTS)
  @State(Scope.Thread)
  public static class Phases {
    public long floorSoloCpuNanos;
    public long floorSoloOps;
    public long keymanagerSoloCpuNanos;
    public long keymanagerSoloOps;
    public long floorPairCpuNanos;
    public long floorPairOps;
    public long keymanagerPairCpuNanos;
    public long keymanagerPairOps;

    private int index = -1; // 0 works in every phase; 1 only in the two-thread ones
    private int phase;
    private long phaseCpuStart;
    private long phaseOps;
    private int calls;

    @Setup(Level.Iteration)
    public void start(ScalingBenchmark b) {
      if (index < 0) {
        index = b.threads.getAndIncrement();
      }
      floorSoloCpuNanos = floorSoloOps = keymanagerSoloCpuNanos = keymanagerSoloOps = 0;
      floorPairCpuNanos = floorPairOps = keymanagerPairCpuNanos = keymanagerPairOps = 0;
      phase = b.phaseAt(System.nanoTime());
      phaseCpuStart = THREADS.getCurrentThreadCpuTime();
      phaseOps = 0;
    }

    @TearDown(Level.Iteration)
    public void stop() {
      account(THREADS.getCurrentThreadCpuTime());
    }

    /** The phase this call runs in, accounting the last one if it has just ended. */
    int phase(ScalingBenchmark b) {
      if ((++calls & 15) == 0 || !works(phase)) {
        int now = b.phaseAt(System.nanoTime());
        if (now != phase) {
          long cpu = THREADS.getCurrentThreadCpuTime();
          account(cpu);
          phase = now;
          phaseCpuStart = cpu;
        }
      }
      return phase;
    }

    /** Whether this thread works in phase {@code p}. */
    boolean works(int p) {
      return index == 0 || p >= FLOOR_PAIR;
    }

    void op() {
      phaseOps++;
    }

    private void account(long cpu) {
      if (!works(phase)) {
        phaseOps = 0;
        return;
      }
      long spent = cpu - phaseCpuStart;
      switch (phase) {
        case FLOOR_SOLO -> {
          floorSoloCpuNanos += spent;
          floorSoloOps += phaseOps;
        }
        case KEYMANAGER_SOLO -> {
          keymanagerSoloCpuNanos += spent;
          keymanagerSoloOps += phaseOps;
        }
        case FLOOR_PAIR -> {
          floorPairCpuNanos += spent;
          floorPairOps += phaseOps;
        }
        case KEYMANAGER_PAIR -> {
          keymanagerPairCpuNanos += spent;
          keymanagerPairOps += phaseOps;
        }
        default -> throw new IllegalStateException("no phase " + phase);
      }
      phaseOps = 0;
    }
  }

  @Benchmark
  @Threads(2)
  public Object alternate(HotPathBenchmark hot, HotPathBenchmark.PerThread t, Phases p) {
    int phase = p.phase(this);
    if (!p.works(phase)) {
      // The one-thread phases: the second thread parks to the end of the phase.
      LockSupport.parkNanos(leftInPhase(System.nanoTime()));
      return null;
    }
    p.op();
    boolean floor = phase == FLOOR_SOLO || phase == FLOOR_PAIR;
    return switch (op) {
      case 0 -> floor ? hot.jceDecryptOnce(t) : hot.unwrapOnce();
      case 1 -> floor ? hot.jceDecryptOnce(t) : hot.decodeAndUnwrapOnce();
      case 2 -> floor ? hot.jceRandomEncryptOnce(t) : hot.generateOnce();
      default -> floor ? hot.jceWorkingSetOnce(t) : hot.unwrapWorkingSetOnce(t);
    };
  }
}
