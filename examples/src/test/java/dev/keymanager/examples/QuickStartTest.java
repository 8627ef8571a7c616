package dev.keymanager.examples;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class QuickStartTest {
  @TempDir Path home;

  @Test
  void quickStartDecryptsEveryRecordAfterARestartAndRunsTwice() throws Exception {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);

    List<String> first = QuickStart.run(home, out);
    List<String> second = QuickStart.run(home, out);

    assertThat(first).hasSize(3).allSatisfy(r -> assertThat(r).startsWith("order 100"));
    assertThat(second).isEqualTo(first);
    String printed = bytes.toString(StandardCharsets.UTF_8);
    assertThat(printed)
        .contains("created KEK orders v1")
        .contains("found KEK orders from an earlier run")
        .contains("loads=1");
  }
}
