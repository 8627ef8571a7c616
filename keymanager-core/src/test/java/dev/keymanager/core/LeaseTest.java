package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class LeaseTest {
  /** A lease whose end runs {@code onEnd}. */
  private static final class TestLease extends Lease {
    private final Runnable onEnd;

    TestLease(Runnable onEnd) {
      this.onEnd = onEnd;
    }

    @Override
    void onEnd() {
      onEnd.run();
    }
  }

  @Test
  void aLeaseUsedByOneThreadHasNoStripes() {
    Lease lease = new TestLease(() -> {});
    for (int i = 0; i < 1_000; i++) {
      assertThat(lease.tryRetain()).isTrue();
      lease.release();
    }

    assertThat(lease.isStriped()).isFalse();
  }

  @Test
  void aSecondThreadsRetainGrowsTheStripes() throws Exception {
    AtomicInteger ends = new AtomicInteger();
    Lease lease = new TestLease(ends::incrementAndGet);
    assertThat(lease.tryRetain()).isTrue();
    lease.release();
    assertThat(lease.isStriped()).isFalse();

    Thread other = new Thread(() -> lease.release()); // a release alone never grows them
    assertThat(lease.tryRetain()).isTrue();
    other.start();
    other.join();
    assertThat(lease.isStriped()).isFalse();

    Thread second =
        new Thread(
            () -> {
              if (lease.tryRetain()) {
                lease.release();
              }
            });
    second.start();
    second.join();

    assertThat(lease.isStriped()).isTrue();
    lease.drop();
    assertThat(ends).hasValue(1);
  }

  @Test
  void retainsCountedBeforeTheStripesGrewAreReleasedAfter() {
    AtomicInteger ends = new AtomicInteger();
    Lease lease = new TestLease(ends::incrementAndGet);
    assertThat(lease.tryRetain()).isTrue(); // on the base
    assertThat(lease.tryRetain()).isTrue();

    lease.growStripes();
    lease.release(); // on a stripe
    lease.drop();
    assertThat(ends).hasValue(0); // one operation still in flight
    assertThat(lease.tryRetain()).isFalse();

    lease.release();
    assertThat(lease.isStriped()).isTrue();
    assertThat(ends).hasValue(1);
  }

  @Test
  void endsWhenTheOwnerDropsAndNothingIsInFlight() {
    AtomicInteger ends = new AtomicInteger();
    Lease lease = new TestLease(ends::incrementAndGet);
    assertThat(lease.tryRetain()).isTrue();
    lease.release();
    assertThat(ends).hasValue(0); // the owner still holds it

    lease.drop();

    assertThat(ends).hasValue(1);
    assertThat(lease.isEnded()).isTrue();
    assertThat(lease.tryRetain()).isFalse();
    assertThat(ends).hasValue(1); // a failed retain does not end it twice
  }

  @Test
  void anOperationInFlightDelaysTheEndUntilItsRelease() {
    AtomicInteger ends = new AtomicInteger();
    Lease lease = new TestLease(ends::incrementAndGet);
    assertThat(lease.tryRetain()).isTrue();

    lease.drop();
    assertThat(ends).hasValue(0);
    assertThat(lease.tryRetain()).isFalse(); // no new operation after the drop

    lease.release();
    assertThat(ends).hasValue(1);
  }

  @Test
  void releasingMoreThanRetainedIsABug() {
    Lease lease = new TestLease(() -> {});
    lease.drop();

    assertThatThrownBy(lease::release).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void underRacingThreadsItEndsExactlyOnceAndNeverUnderAHolder() throws Exception {
    for (int round = 0; round < 200; round++) {
      AtomicBoolean inUse = new AtomicBoolean();
      AtomicInteger holders = new AtomicInteger();
      AtomicInteger ends = new AtomicInteger();
      AtomicBoolean endedUnderHolder = new AtomicBoolean();
      Lease lease =
          new TestLease(
              () -> {
                ends.incrementAndGet();
                if (holders.get() != 0) {
                  endedUnderHolder.set(true);
                }
              });
      if (round % 2 == 1) {
        lease.growStripes(); // half the rounds race on the stripes from the start
      }
      int threads = 4;
      CyclicBarrier start = new CyclicBarrier(threads + 1);
      TestThreads workers =
          TestThreads.start(
              threads,
              () -> {
                start.await();
                for (int i = 0; i < 2_000; i++) {
                  if (!lease.tryRetain()) {
                    return;
                  }
                  holders.incrementAndGet();
                  inUse.set(true);
                  holders.decrementAndGet();
                  lease.release();
                }
              });
      start.await();
      Thread.yield();
      lease.drop();
      workers.join();
      assertThat(ends).as("round %d", round).hasValue(1);
      assertThat(endedUnderHolder).as("round %d", round).isFalse();
    }
  }
}
