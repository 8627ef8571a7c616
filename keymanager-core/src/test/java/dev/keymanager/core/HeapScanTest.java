package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keymanager.DataKey;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.internal.Randoms;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.internal.ApiBridge;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import dev.keymanager.testkit.RecordingKms;
import java.io.IOException;
import java.net.URI;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
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
 * Proof 5 of the cache issue: after KEKs are created, used, evicted and the key manager closed, a
 * heap dump of live objects holds none of their bytes, nor the subkeys derived from them, nor the
 * DEKs handed out (once closed), in any form a JCE cipher keeps: byte copies, or the words of an
 * AES key schedule (HPROF writes an {@code int[]} big-endian, so the first words of a schedule read
 * as the key bytes themselves). Halves are searched too, since the JDK's schedule rows hold 16
 * bytes each.
 *
 * <p>The test keeps each secret only XOR-masked (secret and mask in two arrays), so its own records
 * are not what the scan finds; the needles are computed after the dump. Two canaries, one held as
 * bytes and one as an int-array key schedule would be, prove the scan finds what is there.
 */
class HeapScanTest {
  private static final URI CMK = FakeKms.cmk("heap");
  private static final KeyContext CONTEXT = KeyContext.of("table", "heap");

  // Positive controls, reachable during the dump.
  private static byte[] canaryBytes;
  private static int[] canaryWords;

  @TempDir Path dir;

  /** A secret split into two random-looking arrays. */
  record Masked(byte[] masked, byte[] mask) {
    static Masked of(byte[] secret) {
      byte[] mask = Randoms.bytes(secret.length);
      byte[] masked = new byte[secret.length];
      for (int i = 0; i < secret.length; i++) {
        masked[i] = (byte) (secret[i] ^ mask[i]);
      }
      return new Masked(masked, mask);
    }

    byte[] unmask() {
      byte[] secret = new byte[mask.length];
      for (int i = 0; i < mask.length; i++) {
        secret[i] = (byte) (masked[i] ^ mask[i]);
      }
      return secret;
    }
  }

  /**
   * The positive control for subkeys, which a subkey keeps in the words of its own object rather
   * than in an array: the scan finds one that is live and not wiped, by its bytes (HPROF writes a
   * long big-endian, the order the subkey stores them in; see {@link #addNeedles} for the order of
   * the words), and no longer once it is wiped.
   */
  @Test
  void theScanFindsALiveSubkeyUntilItIsWiped() throws Exception {
    byte[] secret = Randoms.bytes(32);
    Masked masked = Masked.of(secret);
    CachedKek.Subkey live =
        new CachedKek.Subkey(
            new byte[32], 0, secret, dev.keymanager.core.internal.Jca.DEFAULT, null);
    assertThat(secret).as("copied into the subkey, then overwritten").containsOnly(0);
    Path before = dir.resolve("before.hprof");
    dumpLiveHeap(before);
    live.wipeKey();
    Path after = dir.resolve("after.hprof");
    dumpLiveHeap(after);
    java.lang.ref.Reference.reachabilityFence(live);

    Map<String, byte[]> needles = new LinkedHashMap<>();
    addNeedles(needles, "subkey", masked.unmask());
    assertThat(java.util.Set.copyOf(scan(before, needles)))
        .as("the whole subkey and both halves, in one of the two orders of its words")
        .isIn(
            java.util.Set.of("subkey", "subkey first half", "subkey second half"),
            java.util.Set.of(
                "subkey as words", "subkey as words, first half", "subkey as words, second half"));
    assertThat(scan(after, needles)).isEmpty();
  }

  @Test
  void noKekSubkeyOrClosedDekSurvivesInTheHeap() throws Exception {
    List<String> found = scanAfterUse(null);
    assertThat(found).as("key material left in the heap").isEmpty();
  }

  /**
   * The same scan with the key manager's AES-GCM and HMAC on Bouncy Castle ({@code jcaProvider}).
   * The dump holds live objects only: this proves no cipher, MAC or cache still reachable after
   * close holds key material, not that the provider overwrote the copies it took before they became
   * garbage (a live dump cannot see unreachable memory).
   */
  @Test
  void underBouncyCastleNoKeyMaterialSurvivesInTheLiveHeap() throws Exception {
    List<String> found = scanAfterUse(new org.bouncycastle.jce.provider.BouncyCastleProvider());
    assertThat(found).as("key material left in the heap").isEmpty();
  }

  private List<String> scanAfterUse(java.security.Provider provider) throws Exception {
    List<Masked> keks = new CopyOnWriteArrayList<>();
    List<Masked> deks = new ArrayList<>();
    List<byte[]> salts = new ArrayList<>();
    FakeKms fake = new FakeKms();
    KekStore store = KekStores.inMemory();

    // Node A creates KEKs and wraps DEKs; node B (small cache) loads them, unwraps A's DEKs under
    // derived subkeys, wraps its own, and evicts as it goes.
    List<WrappedKey> wrapped = new ArrayList<>();
    try (KeyManager a = manager(store, fake, keks, 100, provider)) {
      for (int k = 0; k < 4; k++) {
        a.admin().createKek("heap-" + k, CMK);
        for (int i = 0; i < 20; i++) {
          try (DataKey dek = a.generateDek("heap-" + k, CONTEXT)) {
            deks.add(dek.use(Masked::of));
            wrapped.add(dek.wrappedKey());
          }
        }
      }
      for (WrappedKey w : wrapped) {
        try (DataKey dek = a.unwrapDek(w, CONTEXT)) {
          assertThat(dek.length()).isEqualTo(32);
        }
      }
    }
    try (KeyManager b = manager(store, fake, keks, 2, provider)) {
      for (WrappedKey w : List.copyOf(wrapped)) {
        try (DataKey dek = b.unwrapDek(w, CONTEXT)) {
          assertThat(dek.length()).isEqualTo(32);
        }
        try (DataKey dek = b.generateDek(w.kek().id(), CONTEXT)) {
          deks.add(dek.use(Masked::of));
          wrapped.add(dek.wrappedKey());
        }
      }
      assertThat(b.stats().evictions()).isPositive();
    }
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

    Path dump = dir.resolve("heap.hprof");
    dumpLiveHeap(dump);

    // Needles, computed only now: every KEK, every subkey it could have derived, every DEK.
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
    assertThat(keks).hasSizeGreaterThanOrEqualTo(8); // 4 created (wrap) + loads on node B
    assertThat(deks).hasSize(160);

    Map<String, byte[]> needles = new LinkedHashMap<>();
    secrets.forEach((name, secret) -> addNeedles(needles, name, secret));
    addNeedles(needles, "canary bytes", canaryBytes);
    java.nio.ByteBuffer words = java.nio.ByteBuffer.allocate(32);
    words.asIntBuffer().put(canaryWords);
    addNeedles(needles, "canary int[]", words.array());
    List<String> found = scan(dump, needles);

    assertThat(found)
        .as("the scan finds the canaries")
        .contains("canary bytes", "canary int[]", "canary int[] second half");
    found.removeIf(f -> f.startsWith("canary"));
    System.out.printf(
        "heap scan: %d secrets (%d KEK loads, %d DEKs), %,d byte dump, found: %s%n",
        secrets.size(), keks.size(), deks.size(), Files.size(dump), found);
    System.out.printf(
        "heap scan under %s: %d KEK needles, %d subkey needles, %d DEK needles found%n",
        provider == null ? "the JDK" : provider.getName(),
        found.stream().filter(f -> f.startsWith("KEK #")).count(),
        found.stream().filter(f -> f.startsWith("subkey")).count(),
        found.stream().filter(f -> f.startsWith("DEK #")).count());
    return found;
  }

  /**
   * {@code HotSpotDiagnosticMXBean.dumpHeap(file, live=true)}, through reflection: the test sources
   * compile inside the core module, which does not read the management modules.
   */
  static void dumpLiveHeap(Path file) throws ReflectiveOperationException {
    Class<?> factory = Class.forName("java.lang.management.ManagementFactory");
    Class<?> bean = Class.forName("com.sun.management.HotSpotDiagnosticMXBean");
    Object mx = factory.getMethod("getPlatformMXBean", Class.class).invoke(null, bean);
    bean.getMethod("dumpHeap", String.class, boolean.class).invoke(mx, file.toString(), true);
  }

  private KeyManager manager(
      KekStore store,
      FakeKms fake,
      List<Masked> keks,
      long maxCached,
      java.security.Provider provider) {
    KeyManagers.Builder builder =
        provider == null ? KeyManagers.builder() : KeyManagers.builder().jcaProvider(provider);
    return builder
        .kekStore(store)
        .kmsProvider(new RecordingKms(fake, secret -> keks.add(Masked.of(secret))))
        .discoverProviders(false)
        .hardTtl(Duration.ofMinutes(5))
        .maximumCachedKeks(maxCached)
        .build();
  }

  /**
   * Each secret whole and by 16-byte half, as bytes and as the four {@code long} fields a subkey
   * keeps it in: HPROF writes each long big-endian, and HotSpot writes an object's fields in their
   * declared order (JDK 25) or the reverse (JDK 17), so the words appear in order or last first.
   */
  static void addNeedles(Map<String, byte[]> needles, String name, byte[] secret) {
    needles.put(name, secret);
    needles.put(name + " first half", Arrays.copyOf(secret, 16));
    needles.put(name + " second half", Arrays.copyOfRange(secret, 16, 32));
    if (secret.length == 32) {
      byte[] words = new byte[32];
      for (int w = 0; w < 4; w++) {
        System.arraycopy(secret, 8 * w, words, 8 * (3 - w), 8);
      }
      needles.put(name + " as words", words);
      needles.put(name + " as words, first half", Arrays.copyOf(words, 16));
      needles.put(name + " as words, second half", Arrays.copyOfRange(words, 16, 32));
    }
  }

  /** The names of the needles found anywhere in the file. */
  static List<String> scan(Path file, Map<String, byte[]> needles) throws IOException {
    // Index needles by their first 8 bytes; slide over the file once.
    long[] table = new long[Integer.highestOneBit(needles.size() * 4) * 2];
    boolean[] used = new boolean[table.length];
    Map<Long, List<Map.Entry<String, byte[]>>> byPrefix = new LinkedHashMap<>();
    for (Map.Entry<String, byte[]> e : needles.entrySet()) {
      long prefix = java.nio.ByteBuffer.wrap(e.getValue()).getLong();
      byPrefix.computeIfAbsent(prefix, p -> new ArrayList<>()).add(e);
      int slot = (int) (mix(prefix) & (table.length - 1));
      while (used[slot] && table[slot] != prefix) {
        slot = (slot + 1) & (table.length - 1);
      }
      used[slot] = true;
      table[slot] = prefix;
    }
    List<String> found = new ArrayList<>();
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      long size = ch.size();
      long chunk = 1L << 30;
      for (long base = 0; base < size; base += chunk) {
        long length = Math.min(chunk + 64, size - base);
        MappedByteBuffer buf = ch.map(FileChannel.MapMode.READ_ONLY, base, length);
        int limit = (int) Math.min(chunk, length - 8);
        for (int i = 0; i <= limit && i + 8 <= length; i++) {
          long v = buf.getLong(i);
          int slot = (int) (mix(v) & (table.length - 1));
          while (used[slot]) {
            if (table[slot] == v) {
              for (Map.Entry<String, byte[]> e : byPrefix.get(v)) {
                byte[] n = e.getValue();
                if (i + n.length <= length && matches(buf, i, n) && !found.contains(e.getKey())) {
                  found.add(e.getKey());
                }
              }
              break;
            }
            slot = (slot + 1) & (table.length - 1);
          }
        }
      }
    }
    return found;
  }

  private static boolean matches(MappedByteBuffer buf, int at, byte[] needle) {
    for (int j = 0; j < needle.length; j++) {
      if (buf.get(at + j) != needle[j]) {
        return false;
      }
    }
    return true;
  }

  private static long mix(long v) {
    v ^= v >>> 33;
    v *= 0xff51afd7ed558ccdL;
    v ^= v >>> 33;
    return v;
  }
}
