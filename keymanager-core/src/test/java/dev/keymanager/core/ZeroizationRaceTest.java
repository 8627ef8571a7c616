package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keymanager.DataKey;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.KmsUnavailableException;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.internal.LentKey;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.internal.ApiBridge;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import dev.keymanager.testkit.RecordingKms;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import org.junit.jupiter.api.Test;

/**
 * Proof 4 of the cache issue: with a 1 ms hard TTL on the real clock, KEKs are evicted and wiped
 * continuously under threads that wrap and unwrap. Every operation either fails cleanly or works
 * with the right key: every unwrap returns the bytes that were wrapped, every wrapped DEK unwraps
 * to its bytes afterwards in a fresh key manager, and none of them authenticates under a zeroed KEK
 * or a zeroed subkey.
 */
class ZeroizationRaceTest {
  private static final URI CMK = FakeKms.cmk("race");
  private static final KeyContext CONTEXT = KeyContext.of("table", "race");
  private static final int THREADS = 4;
  private static final Duration RUN = Duration.ofSeconds(2);

  @Test
  void noOperationEverRunsOnAWipedKey() throws Exception {
    FakeKms kms = new FakeKms();
    List<byte[]> created = new java.util.concurrent.CopyOnWriteArrayList<>();
    KekStore store = KekStores.inMemory();
    Map<WrappedKey, byte[]> made = new ConcurrentHashMap<>();
    AtomicLong wraps = new AtomicLong();
    AtomicLong unwraps = new AtomicLong();
    AtomicLong busy = new AtomicLong(); // bounded waits that timed out: clean failures

    try (KeyManager keys =
        KeyManagers.builder()
            .kekStore(store)
            .kmsProvider(new RecordingKms(kms, created::add))
            .discoverProviders(false)
            .hardTtl(Duration.ofMillis(1))
            .build()) {
      for (int k = 0; k < 2; k++) {
        keys.admin().createKek("race-" + k, CMK); // records the KEK's bytes, as created.get(k)
      }
      long end = System.nanoTime() + RUN.toNanos();
      TestThreads.start(
              THREADS,
              () -> {
                List<WrappedKey> mine = new ArrayList<>();
                while (System.nanoTime() < end) {
                  ThreadLocalRandom random = ThreadLocalRandom.current();
                  try {
                    if (mine.isEmpty() || random.nextBoolean()) {
                      byte[] dek = new byte[32];
                      random.nextBytes(dek);
                      WrappedKey w = keys.wrapDek("race-" + random.nextInt(2), dek, CONTEXT);
                      made.put(w, dek);
                      mine.add(w);
                      wraps.incrementAndGet();
                    } else {
                      WrappedKey w = mine.get(random.nextInt(mine.size()));
                      try (DataKey dek = keys.unwrapDek(w, CONTEXT)) {
                        if (!dek.use(b -> Arrays.equals(b, made.get(w)))) {
                          throw new AssertionError("unwrap returned other bytes");
                        }
                      }
                      unwraps.incrementAndGet();
                    }
                  } catch (KmsUnavailableException e) {
                    busy.incrementAndGet(); // a load outlived the bounded wait: clean
                  }
                }
              })
          .join();
      System.out.printf(
          "zeroization race: %d wraps, %d unwraps, %d KMS loads, %d evictions, %d timeouts%n",
          wraps.get(),
          unwraps.get(),
          keys.stats().loads() + keys.stats().refreshes(),
          keys.stats().evictions(),
          busy.get());
      assertThat(keys.stats().evictions()).isGreaterThan(50); // the race really happened
    }
    assertThat(wraps.get()).isGreaterThan(100);
    assertThat(unwraps.get()).isGreaterThan(100);

    // Afterwards, in a fresh key manager: every DEK unwraps to its bytes.
    try (KeyManager fresh =
        KeyManagers.builder().kekStore(store).kmsProvider(kms).discoverProviders(false).build()) {
      for (Map.Entry<WrappedKey, byte[]> e : made.entrySet()) {
        try (DataKey dek = fresh.unwrapDek(e.getKey(), CONTEXT)) {
          boolean same = dek.use(b -> Arrays.equals(b, e.getValue()));
          assertThat(same).isTrue();
        }
      }
    }
    // And each was made under its KEK's real subkey, never under zeroed bytes.
    byte[] zeros = new byte[32];
    for (WrappedKey w : made.keySet()) {
      byte[] encoded = w.encode();
      int saltOffset = ApiBridge.wrappedKeys().parametersOffset(w);
      byte[] salt = Arrays.copyOfRange(encoded, saltOffset, saltOffset + CachedKek.SALT_LENGTH);
      byte[] kek = created.get(w.kek().id().equals("race-0") ? 0 : 1);
      assertThat(authenticates(Hkdf.deriveSha256(kek, salt, CachedKek.SUBKEY_INFO, 32), w, encoded))
          .isTrue();
      assertThat(authenticates(zeros, w, encoded)).isFalse();
      assertThat(
              authenticates(Hkdf.deriveSha256(zeros, salt, CachedKek.SUBKEY_INFO, 32), w, encoded))
          .isFalse();
    }
  }

  /** Whether {@code subkey} opens the wrapped key (same layout and AAD as DekCipher). */
  private static boolean authenticates(byte[] subkey, WrappedKey w, byte[] encoded)
      throws Exception {
    int saltOffset = ApiBridge.wrappedKeys().parametersOffset(w);
    int ciphertextOffset = ApiBridge.wrappedKeys().ciphertextOffset(w);
    Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
    c.init(
        Cipher.DECRYPT_MODE,
        LentKey.aes(subkey),
        new GCMParameterSpec(
            128, encoded, saltOffset + CachedKek.SALT_LENGTH, CachedKek.NONCE_LENGTH));
    c.updateAAD(encoded, 0, ciphertextOffset);
    c.updateAAD(CONTEXT.encode());
    try {
      c.doFinal(encoded, ciphertextOffset, encoded.length - ciphertextOffset);
      return true;
    } catch (AEADBadTagException e) {
      return false;
    }
  }
}
