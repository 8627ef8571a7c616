package dev.keymanager.core;

/**
 * Which of a few stripes (a {@link Lease}'s count, a {@link SubkeyCiphers} slot) a thread starts
 * from: its thread id modulo the number of stripes. Ids are handed out in order, so up to that many
 * threads created one after the other (a thread pool's, JMH's) start on different stripes for sure,
 * where an identity hash let two threads share one in four times. Threads that still meet on a
 * stripe move on to the next one when their compare-and-set fails. No thread-local state.
 *
 * <p>Shared memory the hot path writes, for the record. An unwrap whose subkey is derived already
 * takes no count ({@link DekCipher#unwrapIfDerived}): it writes only the subkey's cipher field (or
 * slot) and nothing of its KEK's cache entry. A wrap, a subkey derivation and the slow path of a
 * liveness check take the entry's and the subkey's {@link Lease}. A subkey or KEK entry used by one
 * thread at a time: its own count field, its cipher field, and for a wrap the subkey's nonce
 * counter field, all on lines only that thread writes then. Once two threads have used one at once,
 * each writes only the padded stripe, cipher slot and nonce counter region of its {@link Probe}
 * (each on a cache line of its own, none on the line of an array header or of another object),
 * unless two threads start from the same stripe (thread ids equal modulo 4). Besides these: the
 * {@code hits} {@link java.util.concurrent.atomic.LongAdder} (itself striped by contention), one
 * KEK look-up in 16 reported to Caffeine's eviction policy (its striped read buffer, whose drain
 * writes the policy's frequency sketch and LRU order; the thread-local random generator that picks
 * those samples writes the thread's own fields), and a subkey's CLOCK bit for the {@link
 * SubkeyCache}, written only when it was clear (once per sweep of the clock's hand, which only a
 * subkey miss past the bound moves).
 */
final class Probe {
  private Probe() {}

  /**
   * The stripe, in {@code [0, stripes)}, the current thread starts from; {@code stripes} a power of
   * two.
   */
  @SuppressWarnings("deprecation") // Thread.threadId() is Java 19+; the build targets 17
  static long thread() {
    return Thread.currentThread().getId();
  }

  @SuppressWarnings("deprecation") // Thread.threadId() is Java 19+; the build targets 17
  static int slot(int stripes) {
    return (int) Thread.currentThread().getId() & (stripes - 1);
  }
}
