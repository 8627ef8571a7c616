package dev.keymanager.parquet;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ParquetRevocationDemoTest {
  @TempDir Path home;

  @Test
  void revokedPiiCmkHidesTheEmailColumnWhileTheRestReads() throws Exception {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();

    ParquetRevocationDemo.Outcome o =
        ParquetRevocationDemo.run(home, new PrintStream(bytes, true, StandardCharsets.UTF_8));

    assertThat(o.before()).hasSize(12).allSatisfy(r -> assertThat(r).contains("@example.com"));
    assertThat(o.emailDeniedAfterRevocation()).isTrue();
    assertThat(o.withoutEmail())
        .hasSize(12)
        .allSatisfy(r -> assertThat(r).contains("amount=").doesNotContain("email"));
    assertThat(o.afterReenable()).isEqualTo(o.before());
    assertThat(bytes.toString(StandardCharsets.UTF_8)).contains("access denied");
  }
}
