package dev.keymanager.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A tiny ParquetThroughput run (3 files of 200 rows): does every mode work? Times nothing. */
class ParquetThroughputSmokeTest {
  @TempDir Path dir;

  @Test
  void everyModeWritesAndReadsAndRestartCountsKmsCalls() throws IOException {
    ParquetThroughput.Report report = ParquetThroughput.run(dir, 3, 200, 1);

    assertThat(report.results()).containsOnlyKeys(ParquetThroughput.Mode.values());
    for (ParquetThroughput.Result r : report.results().values()) {
      assertThat(r.rowsRead()).as(r.mode().label).isEqualTo(600);
      assertThat(r.datasetBytes()).as(r.mode().label).isPositive();
      assertThat(r.writeMbPerSec()).as(r.mode().label).isPositive();
      assertThat(r.readMbPerSec()).as(r.mode().label).isPositive();
    }
    // Plain files end with PAR1; encrypted footers with PARE.
    assertThat(trailer(ParquetThroughput.Mode.PLAIN)).isEqualTo("PAR1");
    assertThat(trailer(ParquetThroughput.Mode.KEYMANAGER)).isEqualTo("PARE");
    assertThat(trailer(ParquetThroughput.Mode.PARQUET_DOUBLE)).isEqualTo("PARE");
    // After a restart keymanager unwraps each of the three KEKs once at the KMS, whatever the
    // number of files; double wrapping unwraps each of Parquet's KEKs at its KMS.
    assertThat(report.keymanagerKmsCallsAfterRestart()).isEqualTo(3);
    assertThat(report.parquetKmsUnwrapsAfterRestart()).isPositive();

    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ParquetThroughput.print(report, dir, new PrintStream(out, true, StandardCharsets.UTF_8));
    assertThat(out.toString(StandardCharsets.UTF_8))
        .contains("keymanager, single wrapping", "InMemoryKMS", "after a restart: keymanager");
  }

  private String trailer(ParquetThroughput.Mode mode) throws IOException {
    return new String(
        ParquetThroughput.trailer(ParquetThroughput.file(dir.resolve(mode.dirName()), 0)),
        StandardCharsets.US_ASCII);
  }
}
