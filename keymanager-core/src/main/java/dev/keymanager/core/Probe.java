package dev.keymanager.core;

/**
 * Which of a few stripes (a {@link Lease}'s count, a {@link SubkeyCiphers} slot) a thread starts
 * from: its thread id modulo the number of stripes. Ids are handed out in order, so up to that many
 * threads created one after the other (a thread pool's, JMH's) start on different stripes for sure,
 * where an identity hash let two threads share one in four times. Threads that still meet on a
 * stripe move on to the next one when their compare-and-set fails. No thread-local state.
 *
 * <p>Shared memory the hot path writes, for the record: the stripe of the KEK's and the subkey's
 * lease a thread lands on (retain and release), the cipher slot it takes and gives back, the {@code
 * hits} {@link java.util.concurrent.atomic.LongAdder} (itself striped by contention), and
 * Caffeine's read buffer for the entry look-up (striped, and dropped rather than waited on when
 * full). A wrap adds its subkey's nonce counter, which every wrapping thread increments.
 */
final class Probe {
  private Probe() {}

  /**
   * The stripe, in {@code [0, stripes)}, the current thread starts from; {@code stripes} a power of
   * two.
   */
  @SuppressWarnings("deprecation") // Thread.threadId() is Java 19+; the build targets 17
  static int slot(int stripes) {
    return (int) Thread.currentThread().getId() & (stripes - 1);
  }
}
