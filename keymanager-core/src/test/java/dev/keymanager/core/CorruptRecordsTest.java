package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.DataKey;
import dev.keymanager.KekState;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One corrupt record among 100 KEKs in a file store blocks nothing else: listing returns the 99
 * readable ids and reports the corrupt one, and {@code destroyDueKeks} destroys every due KEK among
 * the 99 and reports the one it could not read.
 */
class CorruptRecordsTest {
  private static final URI CMK = FakeKms.cmk("corrupt-records");
  private static final int KEKS = 100;
  private static final Duration WINDOW = Duration.ofDays(7);
  private static final KeyContext CONTEXT = KeyContext.of(Map.of("table", "t"));

  @TempDir Path temp;

  private final FakeKms kms = new FakeKms();
  private final MutableClock clock = new MutableClock();
  private KekStore store;
  private KeyManager keys;

  @BeforeEach
  void open() {
    store = KekStores.file(temp.resolve("store"));
    keys =
        KeyManagers.builder()
            .kekStore(store)
            .kmsProvider(kms)
            .discoverProviders(false)
            .clock(clock)
            .build();
  }

  @AfterEach
  void close() {
    keys.close();
    store.close();
  }

  private static String id(int i) {
    return String.format("tenant-%03d", i);
  }

  @Test
  void oneCorruptRecordAmongAHundredHidesNoOtherKekAndBlocksNoDestruction() throws Exception {
    List<String> due = new ArrayList<>();
    for (int i = 0; i < KEKS; i++) {
      keys.admin().createKek(id(i), CMK);
      if (i % 10 == 3) { // 10 KEKs scheduled, the corrupt one (tenant-043) among them
        keys.admin().scheduleKekDestruction(id(i), WINDOW);
        due.add(id(i));
      }
    }
    String corrupt = id(43);
    Path file = recordFile(corrupt, 1);
    byte[] bytes = Files.readAllBytes(file);
    bytes[bytes.length / 2] ^= 0x01;
    Files.write(file, bytes);
    List<String> readable = IntStream.range(0, KEKS).mapToObj(CorruptRecordsTest::id).toList();
    readable = readable.stream().filter(id -> !id.equals(corrupt)).toList();

    // The file store lists from its id index, which reads no record: the corrupt KEK is listed.
    List<String> all = IntStream.range(0, KEKS).mapToObj(CorruptRecordsTest::id).toList();
    assertThat(keys.admin().listKeks()).containsExactlyElementsOf(all);
    assertThat(keys.stats().unreadableRecords()).isZero();
    assertThatThrownBy(() -> keys.admin().describeKekVersions(corrupt))
        .isInstanceOf(dev.keymanager.KekStoreException.class)
        .hasMessageContaining(file.toString());

    clock.advance(WINDOW);
    List<String> destroyed = keys.admin().destroyDueKeks();

    List<String> dueReadable = due.stream().filter(id -> !id.equals(corrupt)).toList();
    assertThat(destroyed).hasSize(9).containsExactlyInAnyOrderElementsOf(dueReadable);
    assertThat(keys.stats().unreadableRecords()).isEqualTo(1); // the corrupt KEK's read
    for (String id : dueReadable) {
      assertThat(keys.admin().describeKekVersions(id).orElseThrow().state())
          .isEqualTo(KekState.DESTROYED);
    }
    // Every other KEK still works.
    for (String id : readable) {
      if (!dueReadable.contains(id)) {
        try (DataKey dek = keys.generateDek(id, CONTEXT)) {
          assertThat(keys.unwrapDek(dek.wrappedKey(), CONTEXT).use(byte[]::clone))
              .isEqualTo(dek.use(byte[]::clone));
        }
      }
    }
  }

  @Test
  void aKekWithOneCorruptVersionIsStillListedAndReportedWhenDueButUnreadable() throws Exception {
    keys.admin().createKek("rotated", CMK);
    keys.admin().rotateKek("rotated");
    keys.admin().createKek("healthy", CMK);
    keys.admin().scheduleKekDestruction("rotated", WINDOW);
    keys.admin().scheduleKekDestruction("healthy", WINDOW);
    Path v1 = recordFile("rotated", 1);
    Files.write(v1, "not a record".getBytes(StandardCharsets.UTF_8));

    // Listing reads the id index, not the records, so it loses nothing.
    assertThat(keys.admin().listKeks()).containsExactly("healthy", "rotated");
    assertThat(keys.stats().unreadableRecords()).isZero();

    clock.advance(WINDOW);
    assertThat(keys.admin().destroyDueKeks()).containsExactly("healthy");
    assertThat(keys.stats().unreadableRecords()).isEqualTo(1);
    assertThat(keys.admin().describeKekVersions("healthy").orElseThrow().state())
        .isEqualTo(KekState.DESTROYED);
  }

  private Path recordFile(String kekId, int version) throws Exception {
    String hash =
        HexFormat.of()
            .formatHex(
                MessageDigest.getInstance("SHA-256")
                    .digest(kekId.getBytes(StandardCharsets.UTF_8)));
    Path file = temp.resolve("store").resolve(hash).resolve("v" + version + ".kek");
    if (!Files.exists(file)) {
      throw new IOException("no record file " + file);
    }
    return file;
  }
}
