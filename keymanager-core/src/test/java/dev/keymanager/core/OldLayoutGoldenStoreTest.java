package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.DataKey;
import dev.keymanager.KekDescription;
import dev.keymanager.KekState;
import dev.keymanager.KekStateException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Properties;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A file store written by the layout before KEK heads (version records only; committed in {@code
 * golden/old-layout-v1}, made by the key manager of commit 694bc99 with {@code
 * OldLayoutGolden.java.txt}) opens and works: its KEKs read as they were, their DEKs unwrap, reads
 * write nothing, and the first change of each KEK migrates it to a head record.
 */
class OldLayoutGoldenStoreTest {
  private static final KeyContext CONTEXT = KeyContext.of("golden", "old-layout");
  private static final String FIXTURE = "/golden/old-layout-v1/";

  @TempDir Path temp;
  private Path dir;

  /** One golden DEK: its KEK id, version, wrapped key, and plaintext (32 bytes of its index). */
  private record Dek(String kekId, int version, WrappedKey wrapped, byte[] plaintext) {}

  @BeforeEach
  void copyFixture() throws IOException, URISyntaxException {
    Path source = Path.of(getClass().getResource(FIXTURE + "file-store-v1").toURI());
    dir = temp.resolve("store");
    try (Stream<Path> files = Files.walk(source)) {
      for (Path p : files.toList()) {
        Files.copy(p, dir.resolve(source.relativize(p).toString()));
      }
    }
  }

  private static List<Dek> goldenDeks() {
    Properties p = new Properties();
    try (InputStream in =
        OldLayoutGoldenStoreTest.class.getResourceAsStream(FIXTURE + "old-layout-v1.properties")) {
      p.load(in);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    List<Dek> deks = new ArrayList<>();
    for (int i = 0; p.containsKey("dek." + i); i++) {
      String[] f = p.getProperty("dek." + i).split(" ");
      byte[] plaintext = new byte[32];
      Arrays.fill(plaintext, (byte) i);
      deks.add(
          new Dek(
              f[0],
              Integer.parseInt(f[1]),
              WrappedKey.decode(Base64.getDecoder().decode(f[2])),
              plaintext));
    }
    return deks;
  }

  private static KeyManager keyManager(KekStore store) {
    return KeyManagers.builder().kekStore(store).kmsProvider(new FakeKms()).build();
  }

  private static byte[] unwrap(KeyManager keys, Dek dek) {
    try (DataKey key = keys.unwrapDek(dek.wrapped(), CONTEXT)) {
      return key.use(byte[]::clone);
    }
  }

  @Test
  void theOldLayoutReadsAsItWasAndReadsWriteNothing() {
    List<Dek> golden = goldenDeks();
    assertThat(golden).hasSize(8);
    try (KekStore store = KekStores.file(dir);
        KeyManager keys = keyManager(store)) {
      assertThat(store.kekIds("", 100).ids())
          .containsExactly(
              "golden-disabled",
              "golden-enabled",
              "golden-moved",
              "golden-pending",
              "golden-retired");
      for (String id : store.kekIds("", 100).ids()) {
        assertThat(store.head(id)).as("old layout: no head for " + id).isEmpty();
      }

      KekDescription enabled = keys.admin().describeKekVersions("golden-enabled").orElseThrow();
      assertThat(enabled.state()).isEqualTo(KekState.ENABLED);
      assertThat(enabled.primaryVersion()).isEqualTo(2);
      KekDescription retired = keys.admin().describeKekVersions("golden-retired").orElseThrow();
      assertThat(retired.primaryVersion()).isEqualTo(3);
      assertThat(retired.minimumDecryptionVersion()).isEqualTo(2);
      assertThat(retired.versions().get(0).state()).isEqualTo(KekState.RETIRED);
      KekDescription disabled = keys.admin().describeKekVersions("golden-disabled").orElseThrow();
      assertThat(disabled.state()).isEqualTo(KekState.DISABLED);
      assertThat(disabled.primaryVersion()).isEqualTo(2);
      KekDescription pending = keys.admin().describeKekVersions("golden-pending").orElseThrow();
      assertThat(pending.state()).isEqualTo(KekState.PENDING_DESTRUCTION);
      assertThat(pending.destroyAt()).contains(Instant.parse("2026-12-30T12:00:08Z"));
      KekDescription moved = keys.admin().describeKekVersions("golden-moved").orElseThrow();
      assertThat(moved.cmkUri()).isEqualTo(FakeKms.cmk("golden-b"));

      for (Dek dek : golden) {
        boolean usable =
            dek.kekId().equals("golden-enabled")
                || dek.kekId().equals("golden-moved")
                || (dek.kekId().equals("golden-retired") && dek.version() >= 2);
        if (usable) {
          assertThat(unwrap(keys, dek))
              .as(dek.kekId() + " v" + dek.version())
              .isEqualTo(dek.plaintext());
        } else {
          assertThatThrownBy(() -> unwrap(keys, dek))
              .as(dek.kekId() + " v" + dek.version())
              .isInstanceOf(KekStateException.class);
        }
      }
      try (DataKey fresh = keys.generateDek("golden-enabled", CONTEXT)) {
        assertThat(fresh.wrappedKey().kek().version()).isEqualTo(2);
      }
      for (String id : store.kekIds("", 100).ids()) {
        assertThat(store.head(id)).as("reads migrate nothing: " + id).isEmpty();
      }
    }
  }

  @Test
  void theFirstChangeOfEachKekMigratesItToAHead() {
    List<Dek> golden = goldenDeks();
    try (KekStore store = KekStores.file(dir);
        KeyManager keys = keyManager(store)) {
      assertThat(keys.admin().rotateKek("golden-enabled").version()).isEqualTo(3);
      assertThat(keys.admin().enableKek("golden-disabled").state()).isEqualTo(KekState.ENABLED);
      assertThat(keys.admin().cancelKekDestruction("golden-pending").state())
          .isEqualTo(KekState.DISABLED);
      assertThat(keys.admin().setMinimumDecryptionVersion("golden-retired", 1).state())
          .isEqualTo(KekState.ENABLED);
      assertThat(keys.admin().disableKek("golden-moved").cmkUri())
          .isEqualTo(FakeKms.cmk("golden-b"));

      assertThat(store.head("golden-enabled").orElseThrow().primaryVersion()).isEqualTo(3);
      assertThat(store.head("golden-disabled").orElseThrow().state()).isEqualTo(KekState.ENABLED);
      assertThat(store.head("golden-pending").orElseThrow().state()).isEqualTo(KekState.DISABLED);
      assertThat(store.head("golden-retired").orElseThrow().minimumDecryptionVersion())
          .isEqualTo(1);
      assertThat(store.head("golden-moved").orElseThrow().cmkUri())
          .isEqualTo(FakeKms.cmk("golden-b"));
    }
    // Reopened: the heads order what was changed, and every DEK of an enabled KEK unwraps.
    try (KekStore store = KekStores.file(dir);
        KeyManager keys = keyManager(store)) {
      for (Dek dek : golden) {
        if (dek.kekId().equals("golden-pending") || dek.kekId().equals("golden-moved")) {
          assertThatThrownBy(() -> unwrap(keys, dek)).isInstanceOf(KekStateException.class);
        } else {
          assertThat(unwrap(keys, dek))
              .as(dek.kekId() + " v" + dek.version())
              .isEqualTo(dek.plaintext());
        }
      }
      try (DataKey fresh = keys.generateDek("golden-enabled", CONTEXT)) {
        assertThat(fresh.wrappedKey().kek().version()).isEqualTo(3);
      }
    }
  }
}
