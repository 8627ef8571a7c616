package dev.keymanager.kms.pkcs11;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keymanager.KeyContext;
import dev.keymanager.spi.KmsUnwrapper;
import dev.keymanager.spi.KmsWrapper;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Many threads on a small pool of sessions: every result right, never more sessions in use. */
class Pkcs11SessionPoolTest {
  @Test
  void eightThreadsOnTwoSessionsAllRoundTripAndNeverExceedThePool() throws Exception {
    int threads = 8;
    int rounds = 100;
    try (Pkcs11KmsProvider hsm =
        SoftHsm.builder().maxSessions(2).sessionTimeout(Duration.ofSeconds(60)).build()) {
      URI cmk = SoftHsm.cmk("pool-cmk");
      hsm.generateKey(cmk);
      KmsWrapper wrapper = hsm.wrapper(cmk).orElseThrow();
      KmsUnwrapper unwrapper = hsm.unwrapper(cmk);
      ExecutorService pool = Executors.newFixedThreadPool(threads);
      try {
        CountDownLatch start = new CountDownLatch(1);
        List<Future<Integer>> results = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
          int id = t;
          results.add(
              pool.submit(
                  () -> {
                    start.await();
                    int ok = 0;
                    for (int i = 0; i < rounds; i++) {
                      byte[] kek = new byte[32];
                      kek[0] = (byte) id;
                      kek[1] = (byte) i;
                      KeyContext context = KeyContext.of("thread", Integer.toString(id));
                      byte[] back = unwrapper.unwrap(wrapper.wrap(kek, context), context);
                      ok += java.util.Arrays.equals(back, kek) ? 1 : 0;
                    }
                    return ok;
                  }));
        }
        start.countDown();
        for (Future<Integer> r : results) {
          assertThat(r.get(120, TimeUnit.SECONDS)).isEqualTo(rounds);
        }
      } finally {
        pool.shutdownNow();
      }
      Pkcs11Token token = hsm.token(SoftHsm.MAIN);
      assertThat(token.peakInUse.get()).isBetween(1, 2);
      assertThat(token.inUse.get()).isZero();
      assertThat(token.encrypts.get()).isEqualTo((long) threads * rounds);
      assertThat(token.decrypts.get()).isEqualTo((long) threads * rounds);
    }
  }
}
