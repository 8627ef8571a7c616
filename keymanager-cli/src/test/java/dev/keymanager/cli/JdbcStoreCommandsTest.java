package dev.keymanager.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keymanager.testkit.FakeKms;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The commands on the JDBC store, against a real PostgreSQL server started by the test. */
class JdbcStoreCommandsTest {
  private static EmbeddedPostgres postgres;

  @TempDir Path dir;

  private final FakeKms kms = new FakeKms();
  private final CliRun cli = new CliRun(kms);
  private final String cmk = FakeKms.cmk("fleet").toString();

  @BeforeAll
  static void startPostgres() throws Exception {
    postgres =
        EmbeddedPostgres.builder()
            .setPGStartupWait(Duration.ofSeconds(60))
            .setServerConfig("fsync", "off")
            .setServerConfig("listen_addresses", "127.0.0.1")
            .start();
  }

  @AfterAll
  static void stopPostgres() throws Exception {
    postgres.close();
  }

  private CliRun.Result ok(String... args) {
    CliRun.Result r = cli.run(args);
    assertThat(r.exitCode()).as("stderr: %s", r.err()).isZero();
    return r;
  }

  @Test
  void lifecycleEncryptRewrapDoctorAndCopyRunOnPostgres() throws Exception {
    String schema = "cli_" + System.nanoTime();
    Path conf = dir.resolve("km.properties");
    Files.writeString(
        conf,
        "store=jdbc:postgresql://127.0.0.1:"
            + postgres.getPort()
            + "/postgres\nstore.user=postgres\njdbc.schema="
            + schema
            + "\n");
    try (var c = postgres.getPostgresDatabase().getConnection();
        var st = c.createStatement()) {
      st.execute("CREATE SCHEMA " + schema);
    }
    String config = conf.toString();
    ok("kek", "create", "t1", "--cmk", cmk, "--config", config);
    Path plain = Files.writeString(dir.resolve("p"), "fleet data ".repeat(1000));
    Path enc = Files.createDirectories(dir.resolve("data")).resolve("p.enc");
    ok(
        "encrypt",
        "--kek",
        "t1",
        "--in",
        plain.toString(),
        "--out",
        enc.toString(),
        "--config",
        config);
    assertThat(ok("kek", "rotate", "t1", "--config", config, "--json").out())
        .contains("\"primaryVersion\":2");
    assertThat(ok("rewrap", dir.resolve("data").toString(), "--config", config, "--json").out())
        .contains("\"rewrapped\":1");
    Path back = dir.resolve("back");
    ok("decrypt", "--in", enc.toString(), "--out", back.toString(), "--config", config);
    assertThat(Files.readString(back)).isEqualTo(Files.readString(plain));
    assertThat(ok("doctor", "--config", config, "--json").out()).contains("\"healthy\":true");

    // file -> JDBC: every record copied and verified, then nothing left to copy.
    String file = "file:" + dir.resolve("keks");
    ok("kek", "create", "f1", "--cmk", cmk, "--store", file);
    ok("kek", "rotate", "f1", "--store", file);
    ok("kek", "disable", "f1", "--store", file);
    assertThat(
            ok(
                    "store",
                    "copy",
                    "--from",
                    file,
                    "--to",
                    "jdbc:postgresql://127.0.0.1:" + postgres.getPort() + "/postgres",
                    "--config",
                    config,
                    "--json")
                .out())
        .contains("\"copied\":3"); // 2 versions and the head
    assertThat(
            ok(
                    "store",
                    "copy",
                    "--from",
                    file,
                    "--to",
                    "jdbc:postgresql://127.0.0.1:" + postgres.getPort() + "/postgres",
                    "--config",
                    config,
                    "--json")
                .out())
        .contains("\"copied\":0,\"alreadyPresent\":3");
    assertThat(ok("kek", "describe", "f1", "--config", config, "--json").out())
        .isEqualTo(ok("kek", "describe", "f1", "--store", file, "--json").out());
    assertThat(ok("kek", "list", "--config", config).out()).contains("t1").contains("f1");
  }
}
