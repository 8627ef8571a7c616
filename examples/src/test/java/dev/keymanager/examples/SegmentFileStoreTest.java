package dev.keymanager.examples;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyManager;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.testkit.FakeKms;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SegmentFileStoreTest {
  @TempDir Path home;

  @Test
  void theDemoChecksEveryRandomReadAfterARestartAndRefusesASwappedFile() throws Exception {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();

    SegmentFileStoreDemo.Result r =
        SegmentFileStoreDemo.run(home, new PrintStream(bytes, true, StandardCharsets.UTF_8));

    assertThat(r.readsChecked()).isEqualTo(SegmentFileStoreDemo.READS);
    assertThat(r.kmsCalls()).isEqualTo(1);
    assertThat(r.fileBytes() - r.plaintextBytes())
        .isPositive()
        .isLessThan(r.plaintextBytes() / 500);
    assertThat(r.refusal()).contains("wrapped DEK did not authenticate");
    assertThat(bytes.toString(StandardCharsets.UTF_8))
        .contains("wrote segment-000003")
        .contains("swapped file refused");
  }

  @Test
  void segmentsHaveTheirOwnDeksAndSurviveEvictionOfTheirChannels() throws Exception {
    FakeKms kms = new FakeKms();
    try (KeyManager keys =
            KeyManagers.builder()
                .kekStore(KekStores.inMemory())
                .kmsProvider(kms)
                .discoverProviders(false)
                .build();
        SegmentFileStore store = new SegmentFileStore(keys, "k", "test", home.resolve("s"))) {
      keys.admin().createKek("k", FakeKms.cmk("segments"));
      int files = SegmentFileStore.MAX_OPEN + 4;
      for (int i = 0; i < files; i++) {
        try (SegmentFileStore.SegmentWriter w = store.newSegment()) {
          w.write(("file " + i + " ").repeat(1000).getBytes(StandardCharsets.UTF_8));
        }
      }
      for (int round = 0; round < 2; round++) {
        for (int i = 0; i < files; i++) {
          String name = store.segments().get(i);
          assertThat(new String(store.read(name, 0, 7), StandardCharsets.UTF_8))
              .startsWith("file " + i);
        }
      }
      byte[] first = Files.readAllBytes(home.resolve("s/segment-000001.seg"));
      byte[] second = Files.readAllBytes(home.resolve("s/segment-000002.seg"));
      int header = 6 + ((first[4] & 0xFF) << 8 | first[5] & 0xFF);
      assertThat(Arrays.copyOf(first, header)).isNotEqualTo(Arrays.copyOf(second, header));

      Files.write(home.resolve("s/segment-000003.seg"), Arrays.copyOf(second, second.length - 1));
      SegmentFileStore reopened = new SegmentFileStore(keys, "k", "test", home.resolve("s"));
      assertThatThrownBy(() -> reopened.read("segment-000003", 0, 1))
          .isInstanceOf(InvalidCiphertextException.class);
      reopened.close();
    }
  }

  @Test
  void cachedChannelsFailAfterRevocationAndRecoverOnceAccessIsBack() throws Exception {
    FakeKms kms = new FakeKms();
    URI cmk = FakeKms.cmk("segments-revoked");
    AtomicReference<Instant> now = new AtomicReference<>(Instant.parse("2026-01-01T00:00:00Z"));
    InstantSource clock = now::get;
    Duration ttl = Duration.ofMinutes(5);
    try (KeyManager keys =
            KeyManagers.builder()
                .kekStore(KekStores.inMemory())
                .kmsProvider(kms)
                .discoverProviders(false)
                .hardTtl(ttl)
                .negativeTtl(Duration.ZERO)
                .clock(clock)
                .build();
        SegmentFileStore store = new SegmentFileStore(keys, "k", "test", home.resolve("r"))) {
      keys.admin().createKek("k", cmk);
      try (SegmentFileStore.SegmentWriter w = store.newSegment()) {
        w.write("revocable ".repeat(10_000).getBytes(StandardCharsets.UTF_8));
      }
      String name = store.segments().get(0);
      assertThat(store.read(name, 0, 9)).asString(StandardCharsets.UTF_8).isEqualTo("revocable");

      kms.disable(cmk);
      now.updateAndGet(t -> t.plus(ttl));
      assertThatThrownBy(() -> store.read(name, 50_000, 9))
          .as("the cached channel")
          .isInstanceOf(KeyAccessDeniedException.class);
      assertThatThrownBy(() -> store.read(name, 0, 9))
          .as("reopening while revoked")
          .isInstanceOf(KeyAccessDeniedException.class);

      kms.enable(cmk);
      assertThat(store.read(name, 10, 9)).asString(StandardCharsets.UTF_8).isEqualTo("revocable");
    }
  }
}
