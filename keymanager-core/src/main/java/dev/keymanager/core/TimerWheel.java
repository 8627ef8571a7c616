package dev.keymanager.core;

import java.util.Arrays;
import java.util.function.Consumer;

/**
 * The expiry timer's schedule: a hashed timing wheel of cached KEKs, linked through their own
 * {@code timerNext} field with the time each waits for in {@code timerDeadline}, so that scheduling
 * an entry allocates nothing and dropping one takes no lock. Confined to the timer thread.
 *
 * <p>Time is cut into ticks of {@value #TICK_SHIFT} bits of nanoseconds (about 8.4 ms) on the
 * timer's clock, and ticks into {@value #SLOTS} slots by their low bits (one revolution, about 17
 * s). An entry is linked into the slot of the first tick that starts at or after its deadline, so
 * it is handed out at its deadline or later, never earlier; an entry further away than a revolution
 * stays in its slot until the revolution it is due in. The timer sleeps until the next non-empty
 * slot's tick, or until something is scheduled if none is.
 *
 * <p><b>Dropped entries.</b> A drop does not unlink an entry (that would need a lock shared with
 * the timer thread): the wheel unlinks it when it next visits its slot, within a revolution, or
 * sooner by a compaction. The wheel thus keeps a dropped entry reachable, already wiped, for a
 * while; to keep churn from growing that without bound, every time the number of linked entries
 * passes a quarter more than the live ones it held after its last compaction (plus {@value
 * #COMPACT_SLACK}), it unlinks every dropped entry. So the wheel links at most 1.25 times the live
 * entries of its last compaction plus {@value #COMPACT_SLACK}, and a compaction's walk costs a few
 * steps per entry scheduled since the previous one.
 */
final class TimerWheel {
  static final int TICK_SHIFT = 23;
  static final long TICK_NANOS = 1L << TICK_SHIFT;
  static final int SLOTS = 2048; // a power of two
  static final int COMPACT_SLACK = 256;

  /** What {@link #nextWake()} returns for an empty wheel. */
  static final long NEVER = Long.MAX_VALUE;

  private static final int MASK = SLOTS - 1;

  private final CachedKek[] slots = new CachedKek[SLOTS];
  private long cursor; // the last tick handed out
  private int size; // linked entries, dropped ones included
  private int compactAbove = COMPACT_SLACK;

  /** A wheel whose ticks up to the one before {@code now} (timer clock nanos) have passed. */
  TimerWheel(long now) {
    this.cursor = (now >> TICK_SHIFT) - 1;
  }

  /**
   * Links {@code kek} to be handed out at timer time {@code deadline} or after; a deadline that has
   * passed is handed out at the next {@link #advance}.
   */
  void add(CachedKek kek, long deadline) {
    kek.timerDeadline = deadline;
    long tick = Math.max(ceilTick(deadline) - cursor, 1) + cursor; // a tick not handed out yet
    int slot = (int) tick & MASK;
    kek.timerNext = slots[slot];
    slots[slot] = kek;
    if (++size > compactAbove) {
      compact();
    }
  }

  /**
   * Hands every entry due at timer time {@code now} that is not dropped to {@code due}, which may
   * {@link #add} it again (it is then handed out at a later advance at the earliest); unlinks the
   * dropped entries of the slots it passes.
   */
  void advance(long now, Consumer<CachedKek> due) {
    long nowTick = now >> TICK_SHIFT;
    if (nowTick - cursor <= 0) {
      return;
    }
    // After a pause of a revolution or more every slot is visited once.
    long from = Math.max(cursor + 1 - nowTick, 1 - SLOTS) + nowTick;
    cursor = nowTick;
    for (long tick = from; tick - nowTick <= 0; tick++) {
      int slot = (int) tick & MASK;
      CachedKek kek = slots[slot];
      slots[slot] = null;
      while (kek != null) {
        CachedKek next = kek.timerNext;
        kek.timerNext = null;
        if (kek.isDropped()) {
          size--;
        } else if (ceilTick(kek.timerDeadline) - nowTick <= 0) {
          size--;
          due.accept(kek);
        } else { // due in a later revolution
          kek.timerNext = slots[slot];
          slots[slot] = kek;
        }
        kek = next;
      }
    }
  }

  /**
   * The timer time at which the next non-empty slot's tick starts (the entries in it may be due
   * only in a later revolution), or {@link #NEVER} if the wheel is empty.
   */
  long nextWake() {
    if (size == 0) {
      return NEVER;
    }
    for (long tick = cursor + 1; tick - cursor <= SLOTS; tick++) {
      if (slots[(int) tick & MASK] != null) {
        return tick << TICK_SHIFT;
      }
    }
    return NEVER; // unreachable: size counts linked entries
  }

  /** The entries linked, dropped ones not unlinked yet included. */
  int size() {
    return size;
  }

  /** Unlinks everything, for a timer that stops. */
  void clear() {
    Arrays.fill(slots, null);
    size = 0;
  }

  private void compact() {
    for (int slot = 0; slot < SLOTS; slot++) {
      CachedKek kept = null;
      for (CachedKek kek = slots[slot]; kek != null; ) {
        CachedKek next = kek.timerNext;
        if (kek.isDropped()) {
          kek.timerNext = null;
          size--;
        } else {
          kek.timerNext = kept;
          kept = kek;
        }
        kek = next;
      }
      slots[slot] = kept;
    }
    compactAbove = (int) Math.min(Integer.MAX_VALUE, size + size / 4L + COMPACT_SLACK);
  }

  /** The first tick that starts at or after {@code time}. */
  private static long ceilTick(long time) {
    return (time >> TICK_SHIFT) + ((time & (TICK_NANOS - 1)) == 0 ? 0 : 1);
  }
}
