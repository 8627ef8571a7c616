package dev.keymanager.examples;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyManager;
import dev.keymanager.core.KekStores;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.testkit.FakeKms;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
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
}
