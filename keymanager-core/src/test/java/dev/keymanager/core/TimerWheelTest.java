package dev.keymanager.core;

import static dev.keymanager.core.TimerWheel.SLOTS;
import static dev.keymanager.core.TimerWheel.TICK_NANOS;
import static org.assertj.core.api.Assertions.assertThat;

import dev.keymanager.KekRef;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The expiry timer's wheel, driven by hand on a made-up timer clock, each entry's deadline looked
 * up in a map the test sets.
 */
class TimerWheelTest {
  private static final long START = 1L << 40; // any time; a tick boundary
  private static final long REVOLUTION = SLOTS * TICK_NANOS;

  private final Map<CachedKek, Long> deadlines = new IdentityHashMap<>();
  private final TimerWheel wheel = new TimerWheel(START, deadlines::get);
  private final List<CachedKek> handedOut = new ArrayList<>();

  /** A new entry linked into the wheel to wait for {@code deadline}. */
  private CachedKek add(long deadline) {
    CachedKek kek = new CachedKek(new KekRef("wheel", 1), new byte[32]);
    deadlines.put(kek, deadline);
    wheel.add(kek);
    return kek;
  }

  private void advance(long now) {
    wheel.advance(now, handedOut::add);
  }

  @Test
  void anEntryIsHandedOutAtItsDeadlineAndNotBefore() {
    long deadline = START + 5 * TICK_NANOS + 123;
    CachedKek kek = add(deadline);
    assertThat(wheel.nextWake()).isEqualTo(START + 6 * TICK_NANOS);

    advance(START + 5 * TICK_NANOS);
    advance(deadline - 1);
    assertThat(handedOut).isEmpty();

    advance(deadline);
    assertThat(handedOut).containsExactly(kek);
    assertThat(wheel.size()).isZero();
    assertThat(wheel.nextWake()).isEqualTo(TimerWheel.NEVER);
  }

  @Test
  void anEntryDueRevolutionsAheadStaysInItsSlotUntilItsRevolution() {
    long deadline = START + 3 * REVOLUTION + TICK_NANOS / 2;
    CachedKek kek = add(deadline);

    for (long now = START; now < deadline; now += TICK_NANOS) {
      advance(now);
      assertThat(handedOut).as("handed out %d ns early", deadline - now).isEmpty();
      assertThat(wheel.nextWake()).isGreaterThan(now);
    }
    advance(deadline + TICK_NANOS);
    assertThat(handedOut).containsExactly(kek);
  }

  @Test
  void manyEntriesInOneSlotAreHandedOutInTheirOwnRevolution() {
    long last = START + 7 * TICK_NANOS - 1;
    List<CachedKek> now = new ArrayList<>();
    List<CachedKek> later = new ArrayList<>();
    for (int i = 0; i < 10_000; i++) {
      now.add(add(last - 2 * i)); // all in the tick that ends after last: one slot
      later.add(add(last + REVOLUTION)); // the same slot, one revolution on
    }
    assertThat(wheel.size()).isEqualTo(20_000);

    advance(last - 2 * 5_000);
    assertThat(handedOut).hasSize(5_000);
    advance(last);
    assertThat(handedOut).containsExactlyInAnyOrderElementsOf(now);
    assertThat(wheel.size()).isEqualTo(10_000);

    handedOut.clear();
    advance(last + REVOLUTION - 1);
    assertThat(handedOut).isEmpty();
    advance(last + REVOLUTION);
    assertThat(handedOut).containsExactlyInAnyOrderElementsOf(later);
  }

  @Test
  void anEntryDroppedBeforeItsSlotIsNeverHandedOutAndIsUnlinked() {
    CachedKek dropped = add(START + 2 * TICK_NANOS);
    CachedKek kept = add(START + 2 * TICK_NANOS);
    dropped.drop();

    advance(START + 2 * TICK_NANOS);
    assertThat(handedOut).containsExactly(kept);
    assertThat(wheel.size()).isZero();
    assertThat(dropped.timerNext).isNull();
  }

  @Test
  void aPassedDeadlineIsHandedOutAtTheNextAdvanceAndAnEntryAddedAgainOnlyAtANewTick() {
    CachedKek kek = add(START - REVOLUTION);
    advance(START);
    assertThat(handedOut).containsExactly(kek);

    wheel.advance(
        START + 3 * TICK_NANOS,
        due -> {
          throw new AssertionError("nothing is due");
        });
    deadlines.put(kek, START);
    wheel.add(kek); // passed: in the current tick
    List<CachedKek> seen = new ArrayList<>();
    wheel.advance(
        START + 3 * TICK_NANOS + 1,
        due -> {
          seen.add(due);
          wheel.add(due); // again: not in this advance, nor in another in this tick
        });
    assertThat(seen).containsExactly(kek);
    assertThat(wheel.size()).isEqualTo(1);
    advance(START + 4 * TICK_NANOS - 1);
    assertThat(handedOut).containsExactly(kek); // the first hand-out only
    advance(START + 4 * TICK_NANOS);
    assertThat(handedOut).containsExactly(kek, kek);
  }

  @Test
  void afterAPauseOfManyRevolutionsEveryDueEntryIsHandedOutOnce() {
    List<CachedKek> due = new ArrayList<>();
    for (int i = 0; i < 3 * SLOTS; i++) {
      CachedKek kek = add(START + i * TICK_NANOS / 2);
      due.add(kek);
    }
    CachedKek notYet = add(START + 10 * REVOLUTION + 1);

    advance(START + 10 * REVOLUTION);
    assertThat(handedOut).containsExactlyInAnyOrderElementsOf(due).doesNotContain(notYet);
    assertThat(wheel.size()).isEqualTo(1);
  }

  @Test
  void churnOfAHundredThousandEntriesKeepsTheWheelBounded() {
    List<CachedKek> live = new ArrayList<>();
    for (int i = 0; i < 1_000; i++) {
      CachedKek kek = add(START + REVOLUTION / 2);
      live.add(kek); // far off: no slot is visited during the churn
    }
    int bound = 1_000 + 1_000 / 4 + TimerWheel.COMPACT_SLACK + 1;
    int largest = 0;
    for (int i = 0; i < 100_000; i++) {
      CachedKek kek = add(START + REVOLUTION / 2);
      kek.drop(); // replaced, invalidated or evicted at once
      largest = Math.max(largest, wheel.size());
    }
    assertThat(largest).isLessThanOrEqualTo(bound);

    advance(START + REVOLUTION / 2);
    assertThat(handedOut).containsExactlyInAnyOrderElementsOf(live);
    assertThat(wheel.size()).isZero();
  }
}
