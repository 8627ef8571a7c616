package dev.keymanager.core.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.KekState;
import dev.keymanager.KekStoreException;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.KeyManager;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.spi.KekIdPage;
import dev.keymanager.spi.KekStore;
import dev.keymanager.spi.KmsProvider;
import dev.keymanager.testkit.KekStoreContract;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FileKekStoreTest extends KekStoreContract {
  private static final URI CMK = URI.create("fake-kms://file-test");
  private static final Instant T0 = Instant.parse("2024-06-01T00:00:00Z");
  private static final byte[] MATERIAL =
      "secret-looking-wrapped-bytes".getBytes(StandardCharsets.UTF_8);

  @TempDir Path temp;

  @Override
  protected KekStore newStore() {
    return KekStores.file(temp.resolve("contract-store"));
  }

  @Override
  protected KeyManager keyManager(KekStore store, KmsProvider kms) {
    return KeyManagers.builder().kekStore(store).kmsProvider(kms).discoverProviders(false).build();
  }

  @Override
  protected KekStore reopen(KekStore store) {
    store.close();
    return KekStores.file(temp.resolve("contract-store"));
  }

  @Test
  void createsDirectoryAndFilesOwnerOnly() throws IOException {
    Path dir = temp.resolve("nested/store");
    try (KekStore store = KekStores.file(dir)) {
      KeyEncryptionKey v1 = record("perm/a", 1);
      store.create(v1);
      store.compareAndSet(1, v1.toBuilder().revision(2).state(KekState.DISABLED).build());

      assertThat(permissions(dir)).isEqualTo("rwx------");
      assertThat(permissions(dir.resolve(FileKekStore.LOCK_FILE))).isEqualTo("rw-------");
      assertThat(permissions(dir.resolve(IdIndex.FILE))).isEqualTo("rw-------");
      Path file = recordFile(dir);
      assertThat(permissions(file.getParent())).isEqualTo("rwx------");
      assertThat(permissions(file)).isEqualTo("rw-------");
    }
  }

  @Test
  void corruptRecordRaisesNonRetryableExceptionNamingTheFile() throws IOException {
    Path dir = temp.resolve("corrupt");
    try (KekStore store = KekStores.file(dir)) {
      store.create(record("corrupt-me", 1));
      Path file = recordFile(dir);
      byte[] bytes = Files.readAllBytes(file);
      bytes[bytes.length / 2] ^= 0x40;
      Files.write(file, bytes);

      for (Runnable read :
          List.<Runnable>of(
              () -> store.find("corrupt-me", 1), () -> store.versions("corrupt-me"))) {
        assertThatThrownBy(read::run)
            .isInstanceOfSatisfying(
                KekStoreException.class, e -> assertThat(e.isRetryable()).isFalse())
            .hasMessageContaining(file.toString())
            .hasMessageContaining("checksum")
            .satisfies(e -> assertNoMaterial(e.getMessage()));
      }
      // Listing reads the id index, not records: the KEK stays listed, and reading it fails.
      assertThat(store.kekIds("", 10).ids()).containsExactly("corrupt-me");
      assertThat(store.kekIds("", 10).unreadable()).isEmpty();
      assertThatThrownBy(
              () -> store.compareAndSet(1, record("corrupt-me", 1).toBuilder().revision(2).build()))
          .isInstanceOf(KekStoreException.class)
          .hasMessageContaining(file.toString());
    }
  }

  @Test
  void everyFlippedOrTruncatedByteIsDetected() throws IOException {
    Path dir = temp.resolve("flips");
    try (KekStore store = KekStores.file(dir)) {
      store.create(record("flip", 1));
      Path file = recordFile(dir);
      byte[] original = Files.readAllBytes(file);

      for (int i = 0; i < original.length; i++) {
        byte[] flipped = original.clone();
        flipped[i] ^= (byte) (1 << (i % 8));
        Files.write(file, flipped);
        assertThatThrownBy(() -> store.find("flip", 1))
            .as("flip in byte %s", i)
            .isInstanceOfSatisfying(
                KekStoreException.class, e -> assertThat(e.isRetryable()).isFalse());
      }
      for (int length = 0; length < original.length; length++) {
        Files.write(file, java.util.Arrays.copyOf(original, length));
        assertThatThrownBy(() -> store.find("flip", 1))
            .as("truncated to %s bytes", length)
            .isInstanceOf(KekStoreException.class);
      }
      Files.write(file, original);
      assertThat(store.find("flip", 1)).contains(record("flip", 1));
    }
  }

  @Test
  void recordCopiedUnderAnotherVersionIsRejected() throws IOException {
    Path dir = temp.resolve("misplaced");
    try (KekStore store = KekStores.file(dir)) {
      store.create(record("moved", 1));
      Path file = recordFile(dir);
      Path wrongName = file.resolveSibling("v2.kek");
      Files.copy(file, wrongName);

      assertThatThrownBy(() -> store.find("moved", 2))
          .isInstanceOfSatisfying(
              KekStoreException.class, e -> assertThat(e.isRetryable()).isFalse())
          .hasMessageContaining(wrongName.toString());
    }
  }

  @Test
  void leftoverTempFilesAreIgnoredAndRemovedWhenTheirKekIsNextWritten() throws IOException {
    Path dir = temp.resolve("leftovers");
    KeyEncryptionKey kept = record("kept", 1);
    Path keptTemp;
    Path headTemp;
    Path orphanTemp;
    try (KekStore store = KekStores.file(dir)) {
      store.create(kept);
      Path file = recordFile(dir);
      keptTemp = file.resolveSibling("v1.kek" + DurableFiles.TEMP_SUFFIX);
      Files.write(keptTemp, new byte[] {1, 2, 3}); // a torn rewrite of v1
      headTemp = file.resolveSibling(FileKekStore.HEAD_FILE + DurableFiles.TEMP_SUFFIX);
      Files.write(headTemp, new byte[] {4}); // a torn first head
      // A killed first create: the KEK's directory holds nothing but a temp file.
      Path orphanDir = dir.resolve(sha256Hex("orphan"));
      Files.createDirectory(orphanDir);
      orphanTemp = orphanDir.resolve("v1.kek" + DurableFiles.TEMP_SUFFIX);
      Files.write(orphanTemp, new byte[] {9});

      assertThat(store.find("kept", 1)).contains(kept);
      assertThat(store.versions("kept")).containsExactly(kept);
      assertThat(store.kekIds("", 10).ids()).containsExactly("kept");
      assertThat(store.head("kept")).isEmpty();
    }

    try (KekStore store = KekStores.file(dir)) {
      // Opening reads no KEK directory: the leftovers are still there, and still ignored.
      assertThat(keptTemp).exists();
      assertThat(orphanTemp).exists();
      assertThat(store.kekIds("", 10).ids()).containsExactly("kept");
      KeyEncryptionKey next = kept.toBuilder().revision(2).state(KekState.DISABLED).build();
      assertThat(store.compareAndSet(1, next)).isTrue();
      assertThat(keptTemp).as("removed by the next write of its KEK").doesNotExist();
      assertThat(headTemp).doesNotExist();
      assertThat(orphanTemp).as("another KEK's leftover waits for its own write").exists();
      assertThat(store.create(record("orphan", 1))).isTrue();
      assertThat(orphanTemp).doesNotExist();
      assertThat(store.find("kept", 1)).contains(next);
      assertThat(store.kekIds("", 10).ids()).containsExactly("kept", "orphan");
    }
  }

  @Test
  void aDirectoryWithoutIdIndexGetsOneAtItsFirstListingReportingUnreadableKeks()
      throws IOException {
    Path dir = temp.resolve("old-layout");
    Path corruptFile;
    Path leftover;
    try (KekStore store = KekStores.file(dir)) {
      store.create(record("b-good", 1));
      store.create(record("a-corrupt", 1));
      store.create(record("c-good", 1));
      store.create(record("c-good", 2));
    }
    corruptFile = dir.resolve(sha256Hex("a-corrupt")).resolve("v1.kek");
    byte[] bytes = Files.readAllBytes(corruptFile);
    bytes[bytes.length / 2] ^= 0x10;
    Files.write(corruptFile, bytes);
    leftover = dir.resolve(sha256Hex("b-good")).resolve("v2.kek" + DurableFiles.TEMP_SUFFIX);
    Files.write(leftover, new byte[] {7});
    Files.delete(dir.resolve(IdIndex.FILE)); // as a directory written before the index

    try (KekStore store = KekStores.file(dir)) {
      assertThat(dir.resolve(IdIndex.FILE)).doesNotExist();
      KekIdPage first = store.kekIds("", 1);
      assertThat(dir.resolve(IdIndex.FILE)).exists();
      assertThat(leftover).as("the one-time build removes leftovers").doesNotExist();
      assertThat(first.ids()).containsExactly("b-good");
      assertThat(first.hasMore()).isTrue();
      assertThat(first.unreadable())
          .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
          .contains(corruptFile.getParent().toString())
          .contains("checksum")
          .satisfies(FileKekStoreTest::assertNoMaterial);
      assertThat(store.kekIds("b-good", 1).ids()).containsExactly("c-good");
      assertThat(store.kekIds("b-good", 1).unreadable()).isEmpty();
      store.create(record("d-new", 1));
    }
    try (KekStore store = KekStores.file(dir)) {
      KekIdPage all = store.kekIds("", 10);
      assertThat(all.ids()).containsExactly("b-good", "c-good", "d-new");
      assertThat(all.unreadable()).hasSize(1); // kept in the index, reported on the first page
    }
  }

  @Test
  void aCrashBetweenTheIndexLinesStillListsTheKekAndATornLineIsCutOff() throws IOException {
    Path dir = temp.resolve("torn-index");
    Path index = dir.resolve(IdIndex.FILE);
    try (KekStore store = KekStores.file(dir)) {
      store.create(record("listed", 1));
    }
    String full = Files.readString(index, StandardCharsets.UTF_8);
    assertThat(full.lines()).hasSize(2).allSatisfy(l -> assertThat(l).endsWith(" listed"));
    // A writer that died after its + line and record, before its = line; then one torn mid-line.
    try (KekStore store = KekStores.file(dir)) {
      store.create(record("intended", 1));
    }
    List<String> lines = new ArrayList<>(Files.readAllLines(index, StandardCharsets.UTF_8));
    assertThat(lines).hasSize(4);
    lines.remove(3); // the = line of "intended": its writer died after the record's rename
    // A writer that died after its + line, before the record; then one torn mid-line.
    String text =
        String.join("\n", lines)
            + "\n"
            + IdIndex.line('+', "never-written")
            + IdIndex.line('=', "torn").substring(0, 7);
    Files.writeString(index, text, StandardCharsets.UTF_8);

    try (KekStore store = KekStores.file(dir)) {
      KekIdPage page = store.kekIds("", 10);
      assertThat(page.ids()).containsExactly("intended", "listed");
      assertThat(page.unreadable()).isEmpty();
      assertThat(store.create(record("after-crash", 1))).isTrue();
      assertThat(Files.readString(index, StandardCharsets.UTF_8))
          .as("the torn tail is cut before the next line")
          .doesNotContain("torn")
          .endsWith(" after-crash\n");
      assertThat(store.kekIds("", 10).ids()).containsExactly("after-crash", "intended", "listed");
      assertThat(store.kekIds("", 10).unreadable()).isEmpty();
    }
  }

  @Test
  void aCorruptIndexLineIsReportedOnTheFirstPage() throws IOException {
    Path dir = temp.resolve("corrupt-index");
    Path index = dir.resolve(IdIndex.FILE);
    try (KekStore store = KekStores.file(dir)) {
      store.create(record("one", 1));
      store.create(record("two", 1));
    }
    String text = Files.readString(index, StandardCharsets.UTF_8);
    Files.writeString(index, text.replace(" two\n", " twp\n"), StandardCharsets.UTF_8);

    try (KekStore store = KekStores.file(dir)) {
      KekIdPage page = store.kekIds("", 10);
      assertThat(page.ids()).containsExactly("one");
      assertThat(page.unreadable())
          .as("the + and the = line of two")
          .hasSize(2)
          .allSatisfy(line -> assertThat(line).contains(index.toString()).contains("checksum"));
      assertThat(store.kekIds("one", 10).unreadable()).isEmpty();
    }
  }

  private static String sha256Hex(String id) {
    try {
      return HexFormat.of()
          .formatHex(
              java.security.MessageDigest.getInstance("SHA-256")
                  .digest(id.getBytes(StandardCharsets.UTF_8)));
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new AssertionError(e);
    }
  }

  @Test
  void idsNeverNameFilesOutsideTheDirectory() throws IOException {
    Path jail = temp.resolve("jail");
    Path dir = jail.resolve("store");
    try (KekStore store = KekStores.file(dir)) {
      for (String id : List.of("../escape", "../../escape", "/abs/escape", "..", "a/../../b")) {
        assertThat(store.create(record(id, 1))).isTrue();
      }

      try (Stream<Path> all = Files.walk(jail)) {
        assertThat(all.filter(Files::isRegularFile))
            .allSatisfy(
                p -> {
                  assertThat(p.startsWith(dir)).as("%s inside %s", p, dir).isTrue();
                  assertThat(dir.relativize(p).toString())
                      .matches("\\.lock|ids|[0-9a-f]{64}/v[0-9]+\\.kek");
                });
      }
    }
  }

  @Test
  void twoStoresOnOneDirectoryLetExactlyOneWinPerRevision() throws Exception {
    Path dir = temp.resolve("shared");
    int threads = 8;
    int rounds = 100;
    try (KekStore a = KekStores.file(dir);
        KekStore b = KekStores.file(dir)) {
      assertThat(a.create(record("shared", 1))).isTrue();
      assertThat(b.create(record("shared", 1))).isFalse();
      AtomicInteger[] wins = new AtomicInteger[rounds];
      for (int i = 0; i < rounds; i++) {
        wins[i] = new AtomicInteger();
      }
      CyclicBarrier readDone = new CyclicBarrier(threads);
      CyclicBarrier roundDone = new CyclicBarrier(threads);
      ExecutorService pool = Executors.newFixedThreadPool(threads);
      try {
        List<Future<?>> futures = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
          KekStore mine = t % 2 == 0 ? a : b;
          futures.add(
              pool.submit(
                  () -> {
                    for (int round = 0; round < rounds; round++) {
                      KeyEncryptionKey read = mine.find("shared", 1).orElseThrow();
                      readDone.await(60, TimeUnit.SECONDS);
                      KeyEncryptionKey next =
                          read.toBuilder().revision(read.revision() + 1).build();
                      if (mine.compareAndSet(read.revision(), next)) {
                        wins[round].incrementAndGet();
                      }
                      roundDone.await(60, TimeUnit.SECONDS);
                    }
                    return null;
                  }));
        }
        for (Future<?> f : futures) {
          f.get(120, TimeUnit.SECONDS);
        }
      } finally {
        pool.shutdownNow();
      }

      assertThat(wins).allSatisfy(w -> assertThat(w.get()).isEqualTo(1));
      assertThat(a.find("shared", 1).orElseThrow().revision()).isEqualTo(rounds + 1L);
      assertThat(b.find("shared", 1).orElseThrow().revision()).isEqualTo(rounds + 1L);
    }
  }

  @Test
  void closingOneStoreLeavesAnotherOnTheSameDirectoryWorking() {
    Path dir = temp.resolve("close-one");
    KekStore a = KekStores.file(dir);
    try (KekStore b = KekStores.file(dir)) {
      a.close();
      assertThat(b.create(record("after-close", 1))).isTrue();
      assertThat(b.find("after-close", 1)).contains(record("after-close", 1));
    }
  }

  @Test
  void useAfterCloseThrowsIllegalStateException() {
    KekStore store = KekStores.file(temp.resolve("closed"));
    store.close();
    store.close(); // idempotent

    assertThatThrownBy(() -> store.find("a", 1)).isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(() -> store.kekIds("", 1)).isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(() -> store.create(record("a", 1)))
        .isInstanceOf(IllegalStateException.class);
  }

  @Test
  void openFailsWhenTheDirectoryIsAFile() throws IOException {
    Path file = Files.write(temp.resolve("not-a-dir"), new byte[] {1});

    assertThatThrownBy(() -> KekStores.file(file))
        .isInstanceOf(KekStoreException.class)
        .hasMessageContaining(file.toString());
  }

  private static KeyEncryptionKey record(String id, int version) {
    return KeyEncryptionKey.builder()
        .id(id)
        .version(version)
        .cmkUri(CMK)
        .wrappedMaterial(MATERIAL)
        .createdAt(T0)
        .build();
  }

  private static Path recordFile(Path dir) throws IOException {
    try (Stream<Path> files = Files.walk(dir)) {
      List<Path> records = files.filter(p -> p.toString().endsWith(".kek")).toList();
      assertThat(records).hasSize(1);
      return records.get(0);
    }
  }

  private static String permissions(Path path) throws IOException {
    return PosixFilePermissions.toString(Files.getPosixFilePermissions(path));
  }

  private static void assertNoMaterial(String message) {
    assertThat(message)
        .doesNotContain(new String(MATERIAL, StandardCharsets.UTF_8))
        .doesNotContainIgnoringCase(HexFormat.of().formatHex(MATERIAL));
  }
}
