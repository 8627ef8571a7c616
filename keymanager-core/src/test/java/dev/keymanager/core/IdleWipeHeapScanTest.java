package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.DataKey;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.HeapScanTest.Masked;
import dev.keymanager.core.internal.Randoms;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.internal.ApiBridge;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import dev.keymanager.testkit.RecordingKms;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 14, proof 3: with no cache traffic at all, a live heap dump taken one second after the hard
 * TTL (real clock, hard TTL 1 s) holds no copy of the KEK, the subkeys derived from it, or the DEK
 * of a closed or a failed handle, while both key managers are still open. Needles and canaries as
 * in {@link HeapScanTest}. Also measures the idle-wipe delay: from the hard TTL to the wipe.
 */
class IdleWipeHeapScanTest {
  private static final URI IDLE_CMK = FakeKms.cmk("idle");
  private static final URI REVOKED_CMK = FakeKms.cmk("revoked");
  private static final KeyContext CONTEXT = KeyContext.of("table", "idle");
  private static final Duration TTL = Duration.ofSeconds(1);

  private static byte[] canaryBytes;
  private static int[] canaryWords;

  @TempDir Path dir;

  @Test
  void anIdleKeyManagerWipesExpiredKeksAndSubkeysOnTimeAndFailedHandlesKeepNoDek()
      throws Exception {
    FakeKms fake = new FakeKms();
    KekStore store = KekStores.inMemory();
    List<Masked> keks = new CopyOnWriteArrayList<>();
    List<Masked> deks = new ArrayList<>();
    List<WrappedKey> wrapped = new ArrayList<>();
    try (KeyManager creator = manager(store, fake, keks)) {
      creator.admin().createKek("idle", IDLE_CMK);
      creator.admin().createKek("revoked", REVOKED_CMK);
      for (String kek : List.of("idle", "revoked")) {
        try (DataKey dek = creator.generateDek(kek, CONTEXT)) {
          deks.add(dek.use(Masked::of));
          wrapped.add(dek.wrappedKey());
        }
      }
    }
    keks.clear(); // the creator is closed (and wiped, as HeapScanTest proves); these two are not

    // The idle key manager: one load, an unwrap and a wrap, then no traffic at all.
    KeyManager idle = manager(store, fake, keks);
    long loadStart = System.nanoTime();
    try (DataKey dek = idle.unwrapDek(wrapped.get(0), CONTEXT)) {
      assertThat(dek.length()).isEqualTo(32);
    }
    try (DataKey dek = idle.generateDek("idle", CONTEXT)) {
      deks.add(dek.use(Masked::of));
      wrapped.add(dek.wrappedKey());
    }

    // Another key manager holds a data key whose CMK is then revoked: it fails and wipes.
    KeyManager other = manager(store, fake, keks);
    DataKey failed = other.unwrapDek(wrapped.get(1), CONTEXT);
    deks.add(failed.use(Masked::of));
    fake.disable(REVOKED_CMK);

    // Watch the idle manager's evictions counter (reading stats is no cache traffic).
    long deadline = loadStart + TTL.toNanos() + Duration.ofSeconds(30).toNanos();
    while (idle.stats().evictions() == 0 && System.nanoTime() < deadline) {
      Thread.sleep(1);
    }
    long wipedAt = System.nanoTime();
    assertThat(idle.stats().evictions()).as("wiped without traffic").isEqualTo(1);
    double delayMs = (wipedAt - (loadStart + TTL.toNanos())) / 1e6;

    while (other.stats().evictions() == 0 && System.nanoTime() < deadline) {
      Thread.sleep(1);
    }
    assertThatThrownBy(() -> failed.use(b -> b.length))
        .isInstanceOf(KeyAccessDeniedException.class);

    // One second after the hard TTL, no traffic on the idle manager since its two operations.
    long dumpAt = loadStart + TTL.toNanos() + Duration.ofSeconds(1).toNanos();
    long wait = dumpAt - System.nanoTime();
    if (wait > 0) {
      Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
    }
    List<byte[]> salts = new ArrayList<>();
    for (WrappedKey w : wrapped) {
      byte[] encoded = w.encode();
      salts.add(
          Arrays.copyOfRange(
              encoded,
              ApiBridge.wrappedKeys().parametersOffset(w),
              ApiBridge.wrappedKeys().parametersOffset(w) + CachedKek.SALT_LENGTH));
    }
    canaryBytes = Randoms.bytes(32);
    canaryWords = new java.util.Random().ints(8).toArray();
    Path dump = dir.resolve("idle.hprof");
    HeapScanTest.dumpLiveHeap(dump);
    double dumpedAfterTtlMs = (System.nanoTime() - (loadStart + TTL.toNanos())) / 1e6;

    Map<String, byte[]> secrets = new LinkedHashMap<>();
    for (int i = 0; i < keks.size(); i++) {
      byte[] kek = keks.get(i).unmask();
      secrets.put("KEK #" + i, kek);
      for (int s = 0; s < salts.size(); s++) {
        secrets.put(
            "subkey of KEK #" + i + " salt #" + s,
            Hkdf.deriveSha256(kek, salts.get(s), CachedKek.SUBKEY_INFO, 32));
      }
    }
    for (int i = 0; i < deks.size(); i++) {
      secrets.put("DEK #" + i, deks.get(i).unmask());
    }
    assertThat(keks).as("one load per manager").hasSize(2);
    Map<String, byte[]> needles = new LinkedHashMap<>();
    secrets.forEach((name, secret) -> HeapScanTest.addNeedles(needles, name, secret));
    HeapScanTest.addNeedles(needles, "canary bytes", canaryBytes);
    ByteBuffer words = ByteBuffer.allocate(32);
    words.asIntBuffer().put(canaryWords);
    HeapScanTest.addNeedles(needles, "canary int[]", words.array());
    List<String> found = HeapScanTest.scan(dump, needles);

    assertThat(found)
        .as("the scan finds the canaries")
        .contains("canary bytes", "canary int[]", "canary int[] second half");
    found.removeIf(f -> f.startsWith("canary"));
    System.out.printf(
        "idle wipe: KEK wiped %.1f ms after its hard TTL (upper bound) with no cache traffic;"
            + " heap dumped %.0f ms after it, %,d bytes, %d secrets, found: %s%n",
        delayMs, dumpedAfterTtlMs, Files.size(dump), secrets.size(), found);
    assertThat(found).as("key material left in the heap").isEmpty();
    assertThat(delayMs).as("wiped within about a second of the hard TTL").isLessThan(1000);
    idle.close();
    other.close();
  }

  private static KeyManager manager(KekStore store, FakeKms fake, List<Masked> keks) {
    return KeyManagers.builder()
        .kekStore(store)
        .kmsProvider(new RecordingKms(fake, secret -> keks.add(Masked.of(secret))))
        .discoverProviders(false)
        .hardTtl(TTL)
        .build();
  }
}
