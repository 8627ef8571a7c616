package dev.keymanager.core.envelope;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.DataKey;
import dev.keymanager.DataKeyService;
import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KekRef;
import dev.keymanager.KekStateException;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManagerStats;
import dev.keymanager.RewrapProgress;
import dev.keymanager.RewrapRequest;
import dev.keymanager.RewrapSink;
import dev.keymanager.WarmUpReport;
import dev.keymanager.WarmUpScope;
import dev.keymanager.WrappedKey;
import dev.keymanager.internal.KekLiveness;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The bounds of one-shot DEK reuse: count, bytes, age, context, rotation and revocation. */
class DekReuseTest {
  private static final KeyContext CONTEXT = KeyContext.of("table", "orders");
  private static final String KEK = "tenant-7";

  private final Fixture f = new Fixture();
  private final AtomicLong nanos = new AtomicLong(1_000);
  private final List<Runnable> timers = new ArrayList<>();

  @BeforeEach
  void createKek() {
    f.keys.admin().createKek(KEK, Fixture.CMK);
  }

  @AfterEach
  void close() {
    f.close();
  }

  private EnvelopeCipher.Builder builder(DataKeyService keys) {
    return EnvelopeCipher.builder(keys, KEK).clock(nanos::get, (task, delay) -> timers.add(task));
  }

  /** The wrapped DEK a payload carries, as bytes. */
  private static List<Byte> wrappedDek(byte[] payload) {
    int w = ((payload[4] & 0xFF) << 8) | (payload[5] & 0xFF);
    List<Byte> out = new ArrayList<>();
    for (byte b : Arrays.copyOfRange(payload, 6, 6 + w)) {
      out.add(b);
    }
    return out;
  }

  private static String nonce(byte[] payload) {
    int w = ((payload[4] & 0xFF) << 8) | (payload[5] & 0xFF);
    return Arrays.toString(Arrays.copyOfRange(payload, 6 + w, 6 + w + 12));
  }

  @Test
  void rollsToANewDekExactlyAtThePayloadBound() {
    EnvelopeCipher cipher = builder(f.keys).maxPayloadsPerDek(3).build();
    List<List<Byte>> deks = new ArrayList<>();
    for (int i = 0; i < 7; i++) {
      byte[] p = cipher.encrypt(Fixture.pattern(10, i), CONTEXT);
      deks.add(wrappedDek(p));
      assertThat(cipher.decrypt(p, CONTEXT)).isEqualTo(Fixture.pattern(10, i));
    }

    assertThat(deks.subList(0, 3)).containsOnly(deks.get(0));
    assertThat(deks.subList(3, 6)).containsOnly(deks.get(3));
    assertThat(new HashSet<>(List.of(deks.get(0), deks.get(3), deks.get(6)))).hasSize(3);
  }

  @Test
  void rollsToANewDekExactlyAtTheByteBound() {
    EnvelopeCipher cipher = builder(f.keys).maxBytesPerDek(1000).build();

    byte[] a = cipher.encrypt(new byte[400], CONTEXT);
    byte[] b = cipher.encrypt(new byte[400], CONTEXT);
    byte[] c = cipher.encrypt(new byte[200], CONTEXT); // 1000 in all: still the first DEK
    byte[] d = cipher.encrypt(new byte[1], CONTEXT); // 1001: a new one
    byte[] big = cipher.encrypt(new byte[5000], CONTEXT); // over the bound: a DEK of its own
    byte[] e = cipher.encrypt(new byte[1], CONTEXT);

    assertThat(wrappedDek(b)).isEqualTo(wrappedDek(a));
    assertThat(wrappedDek(c)).isEqualTo(wrappedDek(a));
    assertThat(wrappedDek(d)).isNotEqualTo(wrappedDek(a));
    assertThat(wrappedDek(big)).isNotEqualTo(wrappedDek(d));
    assertThat(wrappedDek(e)).isNotEqualTo(wrappedDek(big)).isNotEqualTo(wrappedDek(d));
    for (byte[] p : List.of(a, b, c, d, big, e)) {
      assertThat(cipher.decrypt(p, CONTEXT)).hasSize(p.length - (a.length - 400));
    }
  }

  @Test
  void oneGivesEveryPayloadItsOwnDek() {
    EnvelopeCipher cipher = builder(f.keys).maxPayloadsPerDek(1).build();
    Set<List<Byte>> deks = new HashSet<>();
    for (int i = 0; i < 20; i++) {
      deks.add(wrappedDek(cipher.encrypt(new byte[8], CONTEXT)));
    }

    assertThat(deks).hasSize(20);
  }

  @Test
  void noncesNeverRepeatWithinADekAcrossThreads() throws Exception {
    EnvelopeCipher cipher = builder(f.keys).build();
    ConcurrentHashMap<List<Byte>, Set<String>> nonces = new ConcurrentHashMap<>();
    AtomicInteger payloads = new AtomicInteger();
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try {
      List<Future<?>> done = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        done.add(
            pool.submit(
                () -> {
                  for (int i = 0; i < 500; i++) {
                    byte[] p = cipher.encrypt(new byte[16], CONTEXT);
                    assertThat(cipher.decrypt(p, CONTEXT)).hasSize(16);
                    assertThat(
                            nonces
                                .computeIfAbsent(wrappedDek(p), k -> ConcurrentHashMap.newKeySet())
                                .add(nonce(p)))
                        .as("a nonce repeated under one DEK")
                        .isTrue();
                    payloads.incrementAndGet();
                  }
                }));
      }
      for (Future<?> d : done) {
        d.get();
      }
    } finally {
      pool.shutdownNow();
    }

    assertThat(payloads).hasValue(2000);
    // Threads that find no DEK at once each make one, the last kept: at most one per thread.
    assertThat(nonces).hasSizeBetween(1, 4);
    assertThat(nonces.values().stream().mapToInt(Set::size).sum()).isEqualTo(2000);
  }

  @Test
  void eachContextHasItsOwnDek() {
    EnvelopeCipher cipher = builder(f.keys).build();
    KeyContext other = KeyContext.of("table", "invoices");

    byte[] a = cipher.encrypt(new byte[8], CONTEXT);
    byte[] b = cipher.encrypt(new byte[8], other);
    byte[] c = cipher.encrypt(new byte[8], CONTEXT);

    assertThat(wrappedDek(b)).isNotEqualTo(wrappedDek(a));
    assertThat(wrappedDek(c)).isEqualTo(wrappedDek(a));
    assertThatThrownBy(() -> cipher.decrypt(c, other))
        .isInstanceOf(InvalidCiphertextException.class)
        .hasMessageContaining("key context differs");
  }

  @Test
  void aDekOlderThanTheAgeBoundIsReplacedAndSweptEvenIfUnused() {
    EnvelopeCipher cipher = builder(f.keys).maxDekAge(Duration.ofSeconds(30)).build();
    byte[] a = cipher.encrypt(new byte[8], CONTEXT);
    nanos.addAndGet(Duration.ofSeconds(29).toNanos());
    byte[] b = cipher.encrypt(new byte[8], CONTEXT);
    nanos.addAndGet(Duration.ofSeconds(1).toNanos());
    byte[] c = cipher.encrypt(new byte[8], CONTEXT);

    assertThat(wrappedDek(b)).isEqualTo(wrappedDek(a));
    assertThat(wrappedDek(c)).isNotEqualTo(wrappedDek(a));
    assertThat(timers).hasSize(1); // one sweep pending per cipher, not one per DEK
  }

  @Test
  void theSweepOverwritesKeptDeksOnceTheyAgeOut() {
    DekReuse reuse =
        new DekReuse(100, 1 << 20, 1_000, nanos::get, (t, d) -> timers.add(t), r -> true);
    byte[] encrypting = Fixture.pattern(32, 1);
    byte[] decrypting = Fixture.pattern(32, 2);
    byte[] context = CONTEXT.encode();
    KekRef kek = new KekRef(KEK, 1);
    reuse.encrypt(
        context,
        1,
        () -> reuse.newEncrypting(encrypting, KekLiveness.NONE, kek, context, new byte[40]),
        (key, header, n) -> n);
    reuse.remember(decrypting, KekLiveness.NONE, kek, context, Fixture.pattern(100, 3));

    nanos.addAndGet(999);
    runTimers();
    assertThat(encrypting).isEqualTo(Fixture.pattern(32, 1)); // not yet
    assertThat(timers).hasSize(1); // rescheduled while DEKs are kept
    nanos.addAndGet(1);
    runTimers();

    assertThat(encrypting).containsOnly(0);
    assertThat(decrypting).containsOnly(0);
    assertThat(timers).isEmpty();
  }

  private void runTimers() {
    List<Runnable> due = new ArrayList<>(timers);
    timers.clear();
    due.forEach(Runnable::run);
  }

  @Test
  void aDisabledKekStopsTheReusedDekAtOnce() {
    EnvelopeCipher cipher = builder(f.keys).build();
    byte[] before = cipher.encrypt(new byte[8], CONTEXT);

    f.keys.admin().disableKek(KEK);

    assertThatThrownBy(() -> cipher.encrypt(new byte[8], CONTEXT))
        .isInstanceOf(KekStateException.class)
        .hasMessageContaining(KEK);
    assertThatThrownBy(() -> cipher.decrypt(before, CONTEXT)).isInstanceOf(KekStateException.class);
    f.keys.admin().enableKek(KEK);
    byte[] after = cipher.encrypt(new byte[8], CONTEXT);
    assertThat(wrappedDek(after))
        .as("the old DEK is never used again")
        .isNotEqualTo(wrappedDek(before));
    assertThat(cipher.decrypt(before, CONTEXT)).hasSize(8);
  }

  @Test
  void aDeletedCmkStopsTheReusedDeksOnceTheCachedKekExpires() {
    EnvelopeCipher cipher = builder(f.keys).maxDekAge(Duration.ofDays(1)).build();
    byte[] before = cipher.encrypt(new byte[8], CONTEXT);
    assertThat(cipher.decrypt(before, CONTEXT)).hasSize(8);
    f.kms.delete(Fixture.CMK);
    assertThat(wrappedDek(cipher.encrypt(new byte[8], CONTEXT))).isEqualTo(wrappedDek(before));

    f.advance(Duration.ofMinutes(6)); // past the hard TTL: as for every handle on a DEK

    assertThatThrownBy(() -> cipher.encrypt(new byte[8], CONTEXT))
        .isInstanceOf(KeyAccessDeniedException.class);
    assertThatThrownBy(() -> cipher.decrypt(before, CONTEXT))
        .isInstanceOf(KeyAccessDeniedException.class);
    assertThatThrownBy(() -> cipher.encrypt(ByteBuffer.allocate(8), CONTEXT))
        .isInstanceOf(KeyAccessDeniedException.class);
  }

  @Test
  void aRotationMovesTheNextPayloadToTheNewVersion() {
    EnvelopeCipher cipher = builder(f.keys).build();
    byte[] before = cipher.encrypt(new byte[8], CONTEXT);

    f.keys.admin().rotateKek(KEK);
    byte[] after = cipher.encrypt(new byte[8], CONTEXT);

    assertThat(EnvelopeCipher.kekOf(before).version()).isEqualTo(1);
    assertThat(EnvelopeCipher.kekOf(after).version()).isEqualTo(2);
    assertThat(cipher.decrypt(before, CONTEXT)).hasSize(8);
  }

  @Test
  void payloadsCarryingOneWrappedDekAreUnwrappedOnce() {
    CountingKeys counting = new CountingKeys(f.keys);
    EnvelopeCipher cipher = builder(counting).build();
    byte[] a = cipher.encrypt(Fixture.pattern(100, 1), CONTEXT);
    byte[] b = cipher.encrypt(Fixture.pattern(100, 2), CONTEXT);

    assertThat(cipher.decrypt(a, CONTEXT)).isEqualTo(Fixture.pattern(100, 1));
    assertThat(cipher.decrypt(ByteBuffer.wrap(b), CONTEXT))
        .isEqualTo(ByteBuffer.wrap(Fixture.pattern(100, 2)));
    assertThat(cipher.decrypt(a, CONTEXT)).isEqualTo(Fixture.pattern(100, 1));
    assertThat(counting.generated).hasValue(1);
    assertThat(counting.unwrapped).hasValue(1);

    EnvelopeCipher fresh = builder(counting).maxPayloadsPerDek(1).build();
    fresh.decrypt(a, CONTEXT);
    fresh.decrypt(a, CONTEXT);
    assertThat(counting.unwrapped).hasValue(3);
  }

  @Test
  void everyBitFlipIsDetectedWithTheDekKept() {
    EnvelopeCipher cipher = builder(f.keys).build();
    byte[] ciphertext = cipher.encrypt(Fixture.pattern(24, 9), CONTEXT);
    assertThat(cipher.decrypt(ciphertext, CONTEXT)).isEqualTo(Fixture.pattern(24, 9));
    for (int i = 0; i < ciphertext.length * 8; i++) {
      byte[] flipped = ciphertext.clone();
      flipped[i / 8] ^= (byte) (1 << (i % 8));

      assertThatThrownBy(() -> cipher.decrypt(flipped, CONTEXT))
          .as("bit %d", i)
          .isInstanceOf(InvalidCiphertextException.class);
      assertThatThrownBy(() -> cipher.decrypt(ByteBuffer.wrap(flipped), CONTEXT))
          .as("bit %d", i)
          .isInstanceOf(InvalidCiphertextException.class);
    }
    assertThat(cipher.decrypt(ciphertext, CONTEXT)).isEqualTo(Fixture.pattern(24, 9));
  }

  @Test
  void boundsAreChecked() {
    EnvelopeCipher.Builder b = EnvelopeCipher.builder(f.keys, KEK);
    assertThatThrownBy(() -> b.maxPayloadsPerDek(0)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> b.maxPayloadsPerDek((1L << 32) + 1))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> b.maxBytesPerDek(0)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> b.maxBytesPerDek((1L << 36) + 1))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> b.maxDekAge(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> b.maxDekAge(Duration.ofDays(2)))
        .isInstanceOf(IllegalArgumentException.class);
    assertThat(
            b.maxPayloadsPerDek(1L << 32)
                .maxBytesPerDek(1L << 36)
                .maxDekAge(Duration.ofDays(1))
                .build())
        .isNotNull();
  }

  /** A data path that counts DEK generations and unwraps (and is none of ours). */
  private static final class CountingKeys implements DataKeyService {
    private final DataKeyService keys;
    final AtomicInteger generated = new AtomicInteger();
    final AtomicInteger unwrapped = new AtomicInteger();

    CountingKeys(DataKeyService keys) {
      this.keys = keys;
    }

    @Override
    public DataKey generateDek(String kekId, KeyContext context) {
      generated.incrementAndGet();
      return keys.generateDek(kekId, context);
    }

    @Override
    public DataKey unwrapDek(WrappedKey wrappedKey, KeyContext context) {
      unwrapped.incrementAndGet();
      return keys.unwrapDek(wrappedKey, context);
    }

    @Override
    public CompletionStage<DataKey> generateDekAsync(String kekId, KeyContext context) {
      return keys.generateDekAsync(kekId, context);
    }

    @Override
    public WrappedKey wrapDek(String kekId, byte[] dek, KeyContext context) {
      return keys.wrapDek(kekId, dek, context);
    }

    @Override
    public CompletionStage<DataKey> unwrapDekAsync(WrappedKey wrappedKey, KeyContext context) {
      return keys.unwrapDekAsync(wrappedKey, context);
    }

    @Override
    public WrappedKey rewrapDek(WrappedKey wrappedKey, KeyContext context) {
      return keys.rewrapDek(wrappedKey, context);
    }

    @Override
    public RewrapProgress rewrapDeks(
        Iterator<RewrapRequest> requests, RewrapProgress resumeFrom, RewrapSink sink) {
      return keys.rewrapDeks(requests, resumeFrom, sink);
    }

    @Override
    public WarmUpReport warmUp(Collection<String> kekIds, WarmUpScope scope) {
      return keys.warmUp(kekIds, scope);
    }

    @Override
    public KeyManagerStats stats() {
      return keys.stats();
    }
  }
}
