package dev.keymanager.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keymanager.testkit.FakeKms;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every command, in-process, on the file store and FakeKms. */
class CliCommandsTest {
  @TempDir Path dir;

  private final FakeKms kms = new FakeKms();
  private final CliRun cli = new CliRun(kms);
  private String store;
  private final String cmk = FakeKms.cmk("orders").toString();

  @BeforeEach
  void setUp() {
    store = "file:" + dir.resolve("keks");
  }

  private CliRun.Result ok(String... args) {
    CliRun.Result r = cli.run(args);
    assertThat(r.exitCode()).as("exit code; stderr: %s", r.err()).isZero();
    return r;
  }

  private CliRun.Result fails(int code, String... args) {
    CliRun.Result r = cli.run(args);
    assertThat(r.exitCode()).as("stdout %s stderr %s", r.out(), r.err()).isEqualTo(code);
    assertThat(r.err().strip())
        .startsWith("keymanager: ")
        .doesNotContain("\n")
        .doesNotContain("\tat ");
    return r;
  }

  @Test
  void kekLifecycleRunsEveryStepAndPrintsJson() {
    ok("kek", "create", "t1", "--cmk", cmk, "--store", store);
    assertThat(ok("kek", "list", "--store", store, "--json").out())
        .contains("\"id\":\"t1\"")
        .contains("\"state\":\"ENABLED\"");
    assertThat(ok("kek", "rotate", "t1", "--store", store).out()).contains("primary v2");
    assertThat(ok("kek", "min-version", "t1", "2", "--store", store, "--json").out())
        .contains("\"minimumDecryptionVersion\":2");
    String other = FakeKms.cmk("other").toString();
    assertThat(ok("kek", "change-cmk", "t1", "--cmk", other, "--store", store).out())
        .contains(other);
    assertThat(ok("kek", "disable", "t1", "--store", store).out()).contains("DISABLED");
    fails(ExitCodes.STATE, "kek", "rotate", "t1", "--store", store);
    assertThat(ok("kek", "enable", "t1", "--store", store).out()).contains("ENABLED");
    assertThat(
            ok("kek", "schedule-destruction", "t1", "--pending-window", "7d", "--store", store)
                .out())
        .contains("PENDING_DESTRUCTION");
    assertThat(ok("kek", "destroy-due", "--store", store, "--json").out().strip()).isEqualTo("[]");
    assertThat(ok("kek", "cancel-destruction", "t1", "--store", store).out()).contains("DISABLED");
    assertThat(ok("kek", "describe", "t1", "--store", store, "--json").out())
        .contains("\"version\":1")
        .contains("\"version\":2")
        .contains("\"wrappedLength\":");
  }

  @Test
  void lifecycleErrorsAreOneLineWithTheirClassExitCode() {
    fails(ExitCodes.STATE, "kek", "describe", "missing", "--store", store);
    fails(ExitCodes.INVALID_INPUT, "kek", "create", "x", "--store", store);
    fails(ExitCodes.CONFIG, "kek", "list", "--store", "ftp://nowhere");
    fails(ExitCodes.CONFIG, "kek", "list");
    fails(ExitCodes.INVALID_INPUT, "kek", "create", "x", "--cmk", "not a uri", "--store", store);
    fails(
        ExitCodes.INVALID_INPUT,
        "kek",
        "schedule-destruction",
        "x",
        "--pending-window",
        "soon",
        "--store",
        store);
  }

  @Test
  void deniedCmkExitsWithTheDeniedCode() {
    ok("kek", "create", "t1", "--cmk", cmk, "--store", store);
    kms.disable(FakeKms.cmk("orders"));
    fails(ExitCodes.DENIED, "kek", "rotate", "t1", "--store", store);
  }

  @Test
  void developmentKmsIsRefusedWithoutTheFlag() {
    CliRun discovering = new CliRun(); // FakeKms only as discovered from the test kit's jar
    CliRun.Result r = discovering.run("kek", "create", "t1", "--cmk", cmk, "--store", store);
    assertThat(r.exitCode()).isEqualTo(ExitCodes.CONFIG);
    assertThat(r.err()).contains("--allow-development-kms");
    String local =
        dev.keymanager.core.LocalKms.createMasterKey(dir.resolve("master.key")).toString();
    assertThat(discovering.run("kek", "create", "t2", "--cmk", local, "--store", store).exitCode())
        .isEqualTo(ExitCodes.CONFIG);
    assertThat(
            discovering
                .run(
                    "kek",
                    "create",
                    "t2",
                    "--cmk",
                    local,
                    "--store",
                    store,
                    "--allow-development-kms")
                .exitCode())
        .isZero();
  }

  @Test
  void configFileSuppliesTheStore() throws Exception {
    Path conf = dir.resolve("km.properties");
    Files.writeString(conf, "store=" + store + "\n");
    ok("kek", "create", "t1", "--cmk", cmk, "--config", conf.toString());
    assertThat(ok("kek", "list", "--config", conf.toString()).out()).contains("t1");
    Files.writeString(conf, "stroe=" + store + "\n");
    assertThat(fails(ExitCodes.CONFIG, "kek", "list", "--config", conf.toString()).err())
        .contains("unknown key 'stroe'");
  }

  @Test
  void encryptDecryptRoundTripsAFileAndRefusesAnotherContext() throws Exception {
    ok("kek", "create", "t1", "--cmk", cmk, "--store", store);
    byte[] data = new byte[200_000];
    new Random(1).nextBytes(data);
    Path plain = Files.write(dir.resolve("p.bin"), data);
    Path enc = dir.resolve("p.enc");
    ok(
        "encrypt",
        "--kek",
        "t1",
        "--in",
        plain.toString(),
        "--out",
        enc.toString(),
        "-c",
        "t=a",
        "--store",
        store);
    Path back = dir.resolve("p.out");
    ok("decrypt", "--in", enc.toString(), "--out", back.toString(), "-c", "t=a", "--store", store);
    assertThat(Files.readAllBytes(back)).isEqualTo(data);
    Path wrong = dir.resolve("wrong.out");
    fails(
        ExitCodes.INVALID_INPUT,
        "decrypt",
        "--in",
        enc.toString(),
        "--out",
        wrong.toString(),
        "-c",
        "t=b",
        "--store",
        store);
    assertThat(wrong).doesNotExist();
    assertThat(dir.resolve("wrong.out" + FileOps.TEMP_SUFFIX)).doesNotExist();
  }

  @Test
  void rewrapMovesFilesToThePrimaryVersionAndResumeFinishesTheRest() throws Exception {
    ok("kek", "create", "t1", "--cmk", cmk, "--store", store);
    Path files = Files.createDirectories(dir.resolve("data"));
    List<byte[]> contents = new ArrayList<>();
    for (int i = 0; i < 30; i++) {
      byte[] data = ("file " + i).repeat(i * 50 + 1).getBytes();
      contents.add(data);
      Path p = Files.write(dir.resolve("in" + i), data);
      ok(
          "encrypt",
          "--kek",
          "t1",
          "--in",
          p.toString(),
          "--out",
          files.resolve(String.format("f%02d", i)).toString(),
          "--store",
          store);
    }
    ok("kek", "rotate", "t1", "--store", store);
    Path progress = dir.resolve("progress");
    CliRun.Result r =
        ok(
            "rewrap",
            files.toString(),
            "--progress-file",
            progress.toString(),
            "--resume",
            "--progress-every",
            "10",
            "--checkpoint-every",
            "7",
            "--store",
            store,
            "--json");
    assertThat(r.out()).contains("\"rewrapped\":30").contains("\"unchanged\":0");
    assertThat(r.err()).contains("rewrap: 10/30 done");
    for (int i = 0; i < 30; i++) {
      Path f = files.resolve(String.format("f%02d", i));
      assertThat(ok("inspect", f.toString(), "--json").out()).contains("\"kekVersion\":2");
      Path out = dir.resolve("out" + i);
      ok("decrypt", "--in", f.toString(), "--out", out.toString(), "--store", store);
      assertThat(Files.readAllBytes(out)).isEqualTo(contents.get(i));
    }
    // Run again: every file is under the primary already.
    assertThat(ok("rewrap", files.toString(), "--store", store, "--json").out())
        .contains("\"unchanged\":30");
  }

  @Test
  void rewrapOfAKeyListRewritesEachKeyAndKeepsItsOrder() throws Exception {
    ok("kek", "create", "t1", "--cmk", cmk, "--store", store);
    // Wrapped keys come from envelope payload headers here: the CLI has no key-generation command.
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      Path p = Files.writeString(dir.resolve("k" + i), "x" + i);
      Path e = dir.resolve("k" + i + ".enc");
      ok("encrypt", "--kek", "t1", "--in", p.toString(), "--out", e.toString(), "--store", store);
      byte[] b = Files.readAllBytes(e);
      int w = ((b[4] & 0xFF) << 8) | (b[5] & 0xFF);
      lines.add(
          java.util.Base64.getEncoder().encodeToString(java.util.Arrays.copyOfRange(b, 6, 6 + w)));
    }
    Path keys = Files.write(dir.resolve("keys.txt"), lines);
    ok("kek", "rotate", "t1", "--store", store);
    Path out = dir.resolve("keys.new");
    assertThat(
            ok(
                    "rewrap",
                    "--keys",
                    keys.toString(),
                    "--out",
                    out.toString(),
                    "--store",
                    store,
                    "--json")
                .out())
        .contains("\"rewrapped\":5");
    List<String> after = Files.readAllLines(out);
    assertThat(after).hasSize(5);
    for (String line : after) {
      assertThat(ok("inspect", "--base64", line, "--json").out()).contains("\"kekVersion\":2");
    }
  }

  @Test
  void rewrapStopsAtATamperedFileWithItsClassAndNamesIt() throws Exception {
    ok("kek", "create", "t1", "--cmk", cmk, "--store", store);
    Path data = Files.createDirectories(dir.resolve("d"));
    Path p = Files.writeString(dir.resolve("x"), "hello");
    Path f = data.resolve("a");
    ok("encrypt", "--kek", "t1", "--in", p.toString(), "--out", f.toString(), "--store", store);
    byte[] b = Files.readAllBytes(f);
    b[b.length - 1] ^= 1;
    Files.write(f, b);
    ok("kek", "rotate", "t1", "--store", store);
    CliRun.Result r = cli.run("rewrap", data.toString(), "--store", store);
    assertThat(r.exitCode()).isEqualTo(ExitCodes.INVALID_INPUT);
    String[] lines = r.err().strip().split("\n");
    assertThat(lines[0]).startsWith("rewrap: 0/1 done");
    assertThat(lines[lines.length - 1])
        .startsWith("keymanager: rewrap stopped at " + f)
        .contains("failed authentication");
    assertThat(Files.readAllBytes(f)).isEqualTo(b);
  }

  @Test
  void doctorPassesForHealthyKeksAndFailsAsAProbeWhenTheCmkIsDisabled() {
    ok("kek", "create", "t1", "--cmk", cmk, "--store", store);
    CliRun.Result r = ok("doctor", "--store", store, "--json", "--check-wrap");
    assertThat(r.out())
        .contains("\"healthy\":true")
        .contains("\"unwrapMillis\":")
        .contains("\"wrap\":\"ok\"")
        .contains("FakeKms")
        .contains("\"hardTtl\":\"PT5M\"");
    assertThat(ok("doctor", "--cmk", FakeKms.cmk("x").toString(), "--store", store).out())
        .contains("OK");
    kms.disable(FakeKms.cmk("orders"));
    CliRun.Result bad = cli.run("doctor", "--store", store);
    assertThat(bad.exitCode()).isEqualTo(ExitCodes.DENIED);
    assertThat(bad.out()).contains("FAILED  KEK t1").contains("[denied]");
  }

  @Test
  void storeCopyCopiesEveryRecordVerifiedAndIsIdempotent() {
    ok("kek", "create", "t1", "--cmk", cmk, "--store", store);
    ok("kek", "rotate", "t1", "--store", store);
    ok("kek", "disable", "t1", "--store", store);
    ok("kek", "create", "t2", "--cmk", cmk, "--store", store);
    String target = "file:" + dir.resolve("copy");
    assertThat(ok("store", "copy", "--from", store, "--to", target, "--json").out())
        .contains("\"copied\":5"); // 3 versions and 2 heads
    assertThat(ok("store", "copy", "--from", store, "--to", target, "--json").out())
        .contains("\"copied\":0,\"alreadyPresent\":5");
    assertThat(ok("kek", "describe", "t1", "--store", target, "--json").out())
        .isEqualTo(ok("kek", "describe", "t1", "--store", store, "--json").out());
    ok("kek", "enable", "t1", "--store", target);
    assertThat(cli.run("store", "copy", "--from", store, "--to", target).exitCode())
        .isEqualTo(ExitCodes.STATE);
  }

  @Test
  void inspectShowsWrappedKeyAndPayloadFieldsWithoutKeyBytes() throws Exception {
    ok("kek", "create", "t1", "--cmk", cmk, "--store", store);
    Path p = Files.write(dir.resolve("p"), new byte[100_000]);
    Path e = dir.resolve("p.enc");
    ok(
        "encrypt",
        "--kek",
        "t1",
        "--in",
        p.toString(),
        "--out",
        e.toString(),
        "--store",
        store,
        "--segment-size",
        "4096");
    CliRun.Result r = ok("inspect", e.toString(), "--json");
    assertThat(r.out())
        .contains("\"format\":\"envelope-payload\"")
        .contains("\"kind\":\"streaming\"")
        .contains("\"kekId\":\"t1\"")
        .contains("\"segmentSize\":4096")
        .contains("\"plaintextLength\":100000");
    byte[] b = Files.readAllBytes(e);
    String hex = java.util.HexFormat.of().formatHex(b, 0, 200);
    assertThat(cli.runWithInput(hex.getBytes(), "inspect", "-").out()).contains("t1");
    fails(ExitCodes.INVALID_INPUT, "inspect", "--hex", "zz");
    fails(ExitCodes.INVALID_INPUT, "inspect", dir.resolve("none").toString());
  }

  @Test
  void everyCommandHasHelpAndACompletionScriptIsGenerated() {
    for (String[] c :
        new String[][] {
          {"inspect"},
          {"kek"},
          {"kek", "create"},
          {"kek", "destroy-due"},
          {"encrypt"},
          {"decrypt"},
          {"rewrap"},
          {"doctor"},
          {"store", "copy"}
        }) {
      String[] args = java.util.Arrays.copyOf(c, c.length + 1);
      args[c.length] = "--help";
      assertThat(ok(args).out()).contains("Usage: keymanager");
    }
    assertThat(ok("--help").out()).contains("Exit codes:").contains("5   unavailable");
    assertThat(ok("generate-completion").out()).contains("complete -F");
  }
}
