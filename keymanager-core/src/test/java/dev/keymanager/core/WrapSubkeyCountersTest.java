package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keymanager.core.internal.Jca;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CyclicBarrier;
import org.junit.jupiter.api.Test;

/** The nonce counters of a wrap subkey: never one twice, exhausted before 2^32, striped by need. */
class WrapSubkeyCountersTest {
  private static CachedKek.WrapSubkey subkey(long region) {
    return new CachedKek.WrapSubkey(new byte[32], new byte[32], Jca.DEFAULT, 0, region, null);
  }

  @Test
  void oneThreadUsesRegionZeroThenTheStripedRegionsThenIsExhausted() {
    long region = 8;
    CachedKek.WrapSubkey s = subkey(region);
    List<Long> handed = new ArrayList<>();
    for (long n = s.nextCounter(); n >= 0; n = s.nextCounter()) {
      handed.add(n);
    }

    assertThat(handed.subList(0, (int) region)).containsExactly(0L, 1L, 2L, 3L, 4L, 5L, 6L, 7L);
    assertThat(handed).hasSize((int) (5 * region)).doesNotHaveDuplicates();
    assertThat(handed).allMatch(n -> n >= 0 && n < 8 * region); // within the salt's 2^32 scaled
    assertThat(s.exhausted()).isTrue();
    assertThat(s.nextCounter()).isEqualTo(-1);
  }

  @Test
  void theDefaultRegionsStayBelowTwoToThe32() {
    assertThat(5 * (CachedKek.MAX_WRAPS_PER_SUBKEY / 8)).isLessThan(1L << 32);
    CachedKek.WrapSubkey s =
        new CachedKek.WrapSubkey(new byte[32], new byte[32], Jca.DEFAULT, 0, null);
    assertThat(s.nextCounter()).isZero();
    assertThat(s.nextCounter()).isEqualTo(1);
    assertThat(s.exhausted()).isFalse();
  }

  @Test
  void racingThreadsNeverGetOneCounterTwice() throws Exception {
    long region = 5_000;
    for (int round = 0; round < 20; round++) {
      CachedKek.WrapSubkey s = subkey(region);
      Set<Long> seen = ConcurrentHashMap.newKeySet();
      int threads = 4;
      CyclicBarrier start = new CyclicBarrier(threads);
      List<Long> duplicates = new ArrayList<>();
      TestThreads.start(
              threads,
              () -> {
                start.await();
                for (long n = s.nextCounter(); n >= 0; n = s.nextCounter()) {
                  if (!seen.add(n)) {
                    synchronized (duplicates) {
                      duplicates.add(n);
                    }
                  }
                }
              })
          .join();
      assertThat(duplicates).as("round %d", round).isEmpty();
      // Region 0 may be left part-used by the first contention; the striped regions are used up
      // before any thread sees the subkey exhausted.
      Set<Long> striped = new HashSet<>();
      for (long n = region; n < 5 * region; n++) {
        striped.add(n);
      }
      // Set operations, not AssertJ's containsAll (a linear scan per element).
      assertThat(seen.containsAll(striped)).as("round %d: striped regions used up", round).isTrue();
      assertThat(seen.stream().allMatch(n -> n < 5 * region)).as("round %d", round).isTrue();
      assertThat(s.exhausted()).isTrue();
    }
  }
}
