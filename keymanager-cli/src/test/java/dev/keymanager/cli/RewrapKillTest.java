package dev.keymanager.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.core.LocalKms;
import dev.keymanager.core.envelope.EnvelopeCipher;
import dev.keymanager.core.store.KekStores;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code rewrap} of many envelope files, SIGKILLed at random points again and again and resumed
 * each time: every file ends under the primary version and decrypts to its original bytes; none is
 * lost or torn. Kills are placed by progress lines the child prints, not by timers: after a random
 * number of lines the test kills the child while it keeps working, so the kill lands anywhere in a
 * file's read, re-encryption, fsync or rename. Files and kills: keymanager.rewrap.kill.files and
 * .kills (10,000 and 20; -Psoak raises the kills to 100).
 */
class RewrapKillTest {
  private static final KeyContext CONTEXT = KeyContext.of("table", "orders");

  @TempDir Path dir;

  @Test
  void rewrapKilledAtRandomPointsAndResumedLeavesEveryFileUnderThePrimaryAndIntact()
      throws Exception {
    int files = Integer.getInteger("keymanager.rewrap.kill.files", 10_000);
    int kills = Integer.getInteger("keymanager.rewrap.kill.kills", 20);
    Random random = new Random(19);
    Path keks = dir.resolve("keks");
    Path data = Files.createDirectories(dir.resolve("data"));
    String cmk = LocalKms.createMasterKey(dir.resolve("master.key")).toString();
    String store = "file:" + keks;
    List<byte[]> originals = new ArrayList<>();
    try (KeyManager keys =
        KeyManagers.builder().kekStore(KekStores.file(keks)).allowDevelopmentKms().build()) {
      keys.admin().createKek("t", java.net.URI.create(cmk));
      EnvelopeCipher oneShot = EnvelopeCipher.of(keys, "t");
      EnvelopeCipher streaming = EnvelopeCipher.builder(keys, "t").segmentSize(4096).build();
      for (int i = 0; i < files; i++) {
        byte[] plain = new byte[i % 50 == 0 ? 9000 + random.nextInt(4000) : random.nextInt(400)];
        random.nextBytes(plain);
        originals.add(plain);
        Path f = data.resolve(String.format("%03d/%05d.enc", i % 100, i));
        Files.createDirectories(f.getParent());
        if (i % 50 == 0) {
          try (OutputStream out =
              streaming.newEncryptingStream(Files.newOutputStream(f), CONTEXT)) {
            out.write(plain);
          }
        } else {
          Files.write(f, oneShot.encrypt(plain, CONTEXT));
        }
      }
      keys.admin().rotateKek("t");
    }

    Path progress = dir.resolve("rewrap.progress");
    int killed = 0;
    long lastPosition = 0;
    while (killed < kills) {
      Process child = start(store, data, progress);
      int linesBeforeKill = 1 + random.nextInt(3);
      int seen = 0;
      try (BufferedReader err =
          new BufferedReader(
              new InputStreamReader(child.getErrorStream(), StandardCharsets.UTF_8))) {
        String line;
        while ((line = err.readLine()) != null) {
          if (line.startsWith("rewrap: ") && ++seen == linesBeforeKill) {
            child.destroyForcibly(); // SIGKILL on POSIX
            break;
          }
        }
      }
      assertThat(child.waitFor(2, TimeUnit.MINUTES)).isTrue();
      if (seen == linesBeforeKill) {
        assertThat(child.exitValue()).as("killed child's exit value").isNotZero();
        killed++;
        long position = ProgressFile.read(progress).map(ProgressFile::position).orElse(0L);
        assertThat(position).as("progress never goes back").isGreaterThanOrEqualTo(lastPosition);
        lastPosition = position;
      } else {
        break; // the child finished before the chosen line: nothing left to kill
      }
    }
    assertThat(killed).as("kills that landed").isEqualTo(kills);
    assertThat(lastPosition).as("resume point after the kills").isLessThan(files);

    Process last = start(store, data, progress);
    String err = new String(last.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(last.waitFor(5, TimeUnit.MINUTES)).isTrue();
    assertThat(last.exitValue()).as(err).isZero();

    try (Stream<Path> leftovers = Files.walk(data)) {
      assertThat(leftovers.filter(p -> p.toString().endsWith(FileOps.TEMP_SUFFIX)).toList())
          .isEmpty();
    }
    try (KeyManager keys =
        KeyManagers.builder().kekStore(KekStores.file(keks)).allowDevelopmentKms().build()) {
      EnvelopeCipher cipher = EnvelopeCipher.of(keys, "t");
      for (int i = 0; i < files; i++) {
        Path f = data.resolve(String.format("%03d/%05d.enc", i % 100, i));
        byte[] bytes = Files.readAllBytes(f);
        assertThat(EnvelopeCipher.kekOf(bytes).version()).as(f.toString()).isEqualTo(2);
        byte[] back;
        if (bytes[3] == 1) {
          back = cipher.decrypt(bytes, CONTEXT);
        } else {
          try (var in = cipher.newDecryptingStream(Files.newInputStream(f), CONTEXT)) {
            back = in.readAllBytes();
          }
        }
        assertThat(back).as(f.toString()).isEqualTo(originals.get(i));
      }
    }
  }

  private static Process start(String store, Path data, Path progress) throws Exception {
    return new ProcessBuilder(
            Path.of(System.getProperty("java.home"), "bin", "java").toString(),
            "-XX:TieredStopAtLevel=1",
            "-Xshare:auto",
            "-cp",
            System.getProperty("java.class.path"),
            Main.class.getName(),
            "rewrap",
            data.toString(),
            "--progress-file",
            progress.toString(),
            "--resume",
            "--progress-every",
            "100",
            "--checkpoint-every",
            "50",
            "--context",
            "table=orders",
            "--store",
            store,
            "--allow-development-kms")
        .redirectOutput(ProcessBuilder.Redirect.DISCARD)
        .start();
  }
}
