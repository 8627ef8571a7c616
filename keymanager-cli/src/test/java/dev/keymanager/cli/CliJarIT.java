package dev.keymanager.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The built {@code target/keymanager.jar} as a real process, as an operator runs it: {@code kek
 * create}, {@code encrypt}, {@code kek rotate}, {@code rewrap}, {@code decrypt}, on a file store
 * with the local development KMS (the one KMS whose keys outlive a process without a cloud).
 */
class CliJarIT {
  @TempDir Path dir;

  private record Run(int code, String out, String err) {}

  private Run jar(String... args) throws Exception {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("-jar");
    cmd.add(System.getProperty("keymanager.cli.jar", "target/keymanager.jar"));
    cmd.addAll(List.of(args));
    Process p =
        new ProcessBuilder(cmd)
            .redirectOutput(dir.resolve("out.txt").toFile())
            .redirectError(dir.resolve("err.txt").toFile())
            .start();
    assertThat(p.waitFor(3, TimeUnit.MINUTES)).isTrue();
    return new Run(
        p.exitValue(),
        Files.readString(dir.resolve("out.txt")),
        Files.readString(dir.resolve("err.txt")));
  }

  private Run ok(String... args) throws Exception {
    Run r = jar(args);
    assertThat(r.code()).as("%s%nstdout %s%nstderr %s", List.of(args), r.out(), r.err()).isZero();
    return r;
  }

  @Test
  void operatorSessionRunsFromTheJar() throws Exception {
    Path master = dir.resolve("master.key");
    String cmk = dev.keymanager.core.LocalKms.createMasterKey(master).toString();
    String store = "file:" + dir.resolve("keks");
    byte[] data = new byte[300_000];
    new Random(3).nextBytes(data);
    Path plain = Files.write(dir.resolve("data.bin"), data);
    Path files = Files.createDirectories(dir.resolve("files"));
    Path enc = files.resolve("data.enc");

    ok("kek", "create", "orders", "--cmk", cmk, "--store", store, "--allow-development-kms");
    Run refused = jar("kek", "create", "x", "--cmk", cmk, "--store", store);
    assertThat(refused.code()).isEqualTo(ExitCodes.CONFIG);
    assertThat(refused.err().strip())
        .startsWith("keymanager: ")
        .contains("--allow-development-kms");

    ok(
        "encrypt",
        "--kek",
        "orders",
        "--in",
        plain.toString(),
        "--out",
        enc.toString(),
        "-c",
        "table=orders",
        "--store",
        store,
        "--allow-development-kms",
        "-vvv");
    ok("kek", "rotate", "orders", "--store", store, "--allow-development-kms");
    Run rewrap =
        ok(
            "rewrap",
            files.toString(),
            "-c",
            "table=orders",
            "--progress-file",
            dir.resolve("progress").toString(),
            "--store",
            store,
            "--allow-development-kms",
            "--json",
            "-vvv");
    assertThat(rewrap.out()).contains("\"rewrapped\":1");
    assertThat(ok("inspect", enc.toString()).out()).contains("kekVersion           2");
    Path back = dir.resolve("back.bin");
    Run decrypt =
        ok(
            "decrypt",
            "--in",
            enc.toString(),
            "--out",
            back.toString(),
            "-c",
            "table=orders",
            "--store",
            store,
            "--allow-development-kms",
            "-vvv");
    assertThat(Files.readAllBytes(back)).isEqualTo(data);
    assertThat(ok("--version").out()).startsWith("keymanager ");

    // The master key (the development CMK's secret) never shows, even at -vvv.
    byte[] key = Files.readAllBytes(master);
    for (String text : List.of(rewrap.out(), rewrap.err(), decrypt.out(), decrypt.err())) {
      assertThat(text).doesNotContain(HexFormat.of().formatHex(key));
      assertThat(text).doesNotContain(Base64.getEncoder().encodeToString(key));
      assertThat(text).doesNotContain(new String(key, StandardCharsets.ISO_8859_1).strip());
    }
  }
}
