package dev.keymanager.core;

import static dev.keymanager.core.TimerWheel.SLOTS;
import static dev.keymanager.core.TimerWheel.TICK_NANOS;
import static org.assertj.core.api.Assertions.assertThat;

import dev.keymanager.KekRef;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The expiry timer's wheel, driven by hand on a made-up timer clock. */
class TimerWheelTest {
  private static final long START = 1L << 40; // any time; a tick boundary
  private static final long REVOLUTION = SLOTS * TICK_NANOS;

  private final TimerWheel wheel = new TimerWheel(START);
  private final List<CachedKek> handedOut = new ArrayList<>();

  private static CachedKek entry() {
    return new CachedKek(new KekRef("wheel", 1), new byte[32]);
  }

  private void advance(long now) {
    wheel.advance(now, handedOut::add);
  }

  @Test
  void anEntryIsHandedOutAtItsDeadlineAndNotBefore() {
    CachedKek kek = entry();
    long deadline = START + 5 * TICK_NANOS + 123;
    wheel.add(kek, deadline);
    assertThat(wheel.nextWake()).isEqualTo(START + 6 * TICK_NANOS);

    advance(deadline);
    advance(START + 6 * TICK_NANOS - 1);
    assertThat(handedOut).isEmpty();

    advance(START + 6 * TICK_NANOS);
    assertThat(handedOut).containsExactly(kek);
    assertThat(wheel.size()).isZero();
    assertThat(wheel.nextWake()).isEqualTo(TimerWheel.NEVER);
  }

  @Test
  void anEntryDueRevolutionsAheadStaysInItsSlotUntilItsRevolution() {
    CachedKek kek = entry();
    long deadline = START + 3 * REVOLUTION + TICK_NANOS / 2;
    wheel.add(kek, deadline);

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
    long tick = START + 7 * TICK_NANOS;
    List<CachedKek> now = new ArrayList<>();
    List<CachedKek> later = new ArrayList<>();
    for (int i = 0; i < 10_000; i++) {
      CachedKek kek = entry();
      now.add(kek);
      wheel.add(kek, tick - i % TICK_NANOS); // all within the tick before: one slot
      CachedKek next = entry();
      later.add(next);
      wheel.add(next, tick + REVOLUTION); // the same slot, one revolution on
    }
    assertThat(wheel.size()).isEqualTo(20_000);

    advance(tick);
    assertThat(handedOut).containsExactlyInAnyOrderElementsOf(now);
    assertThat(wheel.size()).isEqualTo(10_000);

    handedOut.clear();
    advance(tick + REVOLUTION - 1);
    assertThat(handedOut).isEmpty();
    advance(tick + REVOLUTION);
    assertThat(handedOut).containsExactlyInAnyOrderElementsOf(later);
  }

  @Test
  void anEntryDroppedBeforeItsSlotIsNeverHandedOutAndIsUnlinked() {
    CachedKek dropped = entry();
    CachedKek kept = entry();
    wheel.add(dropped, START + 2 * TICK_NANOS);
    wheel.add(kept, START + 2 * TICK_NANOS);
    dropped.drop();

    advance(START + 2 * TICK_NANOS);
    assertThat(handedOut).containsExactly(kept);
    assertThat(wheel.size()).isZero();
    assertThat(dropped.timerNext).isNull();
  }

  @Test
  void aPassedDeadlineIsHandedOutAtTheNextAdvanceAndAnEntryAddedAgainOnlyLater() {
    CachedKek kek = entry();
    wheel.add(kek, START - REVOLUTION);
    advance(START + TICK_NANOS);
    assertThat(handedOut).containsExactly(kek);

    wheel.advance(
        START + 3 * TICK_NANOS,
        due -> {
          throw new AssertionError("nothing is due");
        });
    wheel.add(kek, START); // passed: the next tick not handed out yet
    List<CachedKek> seen = new ArrayList<>();
    wheel.advance(
        START + 4 * TICK_NANOS,
        due -> {
          seen.add(due);
          wheel.add(due, START); // again: not in this advance
        });
    assertThat(seen).containsExactly(kek);
    assertThat(wheel.size()).isEqualTo(1);
  }

  @Test
  void afterAPauseOfManyRevolutionsEveryDueEntryIsHandedOutOnce() {
    List<CachedKek> due = new ArrayList<>();
    for (int i = 0; i < 3 * SLOTS; i++) {
      CachedKek kek = entry();
      due.add(kek);
      wheel.add(kek, START + i * TICK_NANOS / 2);
    }
    CachedKek notYet = entry();
    wheel.add(notYet, START + 10 * REVOLUTION + 1);

    advance(START + 10 * REVOLUTION);
    assertThat(handedOut).containsExactlyInAnyOrderElementsOf(due);
    assertThat(wheel.size()).isEqualTo(1);
  }

  @Test
  void churnOfAHundredThousandEntriesKeepsTheWheelBounded() {
    List<CachedKek> live = new ArrayList<>();
    for (int i = 0; i < 1_000; i++) {
      CachedKek kek = entry();
      live.add(kek);
      wheel.add(kek, START + REVOLUTION / 2); // far off: no slot is visited during the churn
    }
    int bound = 1_000 + 1_000 / 4 + TimerWheel.COMPACT_SLACK + 1;
    int largest = 0;
    for (int i = 0; i < 100_000; i++) {
      CachedKek kek = entry();
      wheel.add(kek, START + REVOLUTION / 2);
      kek.drop(); // replaced, invalidated or evicted at once
      largest = Math.max(largest, wheel.size());
    }
    assertThat(largest).isLessThanOrEqualTo(bound);

    advance(START + REVOLUTION / 2);
    assertThat(handedOut).containsExactlyInAnyOrderElementsOf(live);
    assertThat(wheel.size()).isZero();
  }
}
