package dev.keymanager.core;

import java.util.Arrays;
import java.util.function.Consumer;
import java.util.function.ToLongFunction;

/**
 * The expiry timer's schedule: a hashed timing wheel of cached KEKs, linked through their own
 * {@code timerNext} field, so that scheduling an entry allocates nothing and dropping one takes no
 * lock. The time an entry waits for is a function of the entry (its refresh time or hard TTL, by
 * whether it is flagged stale yet), so it is not stored. Confined to the timer thread.
 *
 * <p>Time is cut into ticks of 2^{@value #TICK_SHIFT} nanoseconds (about 8.4 ms) on the timer's
 * clock, and ticks into {@value #SLOTS} slots by their low bits (one revolution, about 17 s). An
 * entry is linked into the slot of the tick its deadline falls in, and each {@link #advance} walks
 * the slots of the ticks it reaches, the current one included, handing out the entries whose
 * deadline has come: never before their deadline, even on a clock that tests move by hand. An entry
 * further away than a revolution stays in its slot until the revolution it is due in. The timer
 * sleeps until the end of the next non-empty slot's tick (so up to a tick late), or until something
 * is scheduled if the wheel is empty.
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

  private final ToLongFunction<CachedKek> deadline;
  private final CachedKek[] slots = new CachedKek[SLOTS];
  private long cursor; // the last tick that is over; the next one is open
  private int size; // linked entries, dropped ones included
  private int compactAbove = COMPACT_SLACK;

  /**
   * A wheel whose current tick is the one of {@code now} (timer clock nanos).
   *
   * @param deadline the timer time an entry waits for; read when it is added and when its slot is
   *     visited
   */
  TimerWheel(long now, ToLongFunction<CachedKek> deadline) {
    this.cursor = (now >> TICK_SHIFT) - 1;
    this.deadline = deadline;
  }

  /**
   * Links {@code kek} to be handed out at its deadline or after: by the first {@link #advance} that
   * reaches it, or if added by {@code advance}'s consumer, by the first one after it that reaches a
   * new tick.
   */
  void add(CachedKek kek) {
    long tick = Math.max((deadline.applyAsLong(kek) >> TICK_SHIFT) - cursor, 1) + cursor;
    int slot = (int) tick & MASK;
    kek.timerNext = slots[slot];
    slots[slot] = kek;
    if (++size > compactAbove) {
      compact();
    }
  }

  /**
   * Hands every entry whose deadline is at or before timer time {@code now} and that is not dropped
   * to {@code due}, which may {@link #add} it again; unlinks the dropped entries of the slots it
   * passes.
   */
  void advance(long now, Consumer<CachedKek> due) {
    long nowTick = now >> TICK_SHIFT;
    if (nowTick - cursor <= 0) {
      return; // the clock went back
    }
    // After a pause of a revolution or more every slot is visited once.
    long from = Math.max(cursor + 1 - nowTick, 1 - SLOTS) + nowTick;
    cursor = nowTick; // while handing out: an entry added again goes after this advance
    for (long tick = from; tick - nowTick <= 0; tick++) {
      int slot = (int) tick & MASK;
      CachedKek kek = slots[slot];
      slots[slot] = null;
      while (kek != null) {
        CachedKek next = kek.timerNext;
        kek.timerNext = null;
        if (kek.isDropped()) {
          size--;
        } else if (deadline.applyAsLong(kek) - now <= 0) {
          size--;
          due.accept(kek);
        } else { // later in this tick, or in a later revolution
          kek.timerNext = slots[slot];
          slots[slot] = kek;
        }
        kek = next;
      }
    }
    cursor = nowTick - 1; // the current tick stays open
  }

  /**
   * The timer time at which the next non-empty slot's tick ends, when all its entries are due but
   * those of a later revolution, or {@link #NEVER} if the wheel is empty.
   */
  long nextWake() {
    if (size == 0) {
      return NEVER;
    }
    for (long tick = cursor + 1; tick - cursor <= SLOTS; tick++) {
      if (slots[(int) tick & MASK] != null) {
        return (tick + 1) << TICK_SHIFT;
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
}
