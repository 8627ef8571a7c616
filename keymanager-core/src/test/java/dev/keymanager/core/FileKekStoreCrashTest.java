package dev.keymanager.core;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.KekState;
import dev.keymanager.KekStoreException;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kills a writing process ({@link KekStoreCrashChild}) with SIGKILL at random instants and checks
 * that the store still opens, reads without corruption, and holds every write that was acknowledged
 * before the kill. One directory serves every iteration, so later children also open a store a
 * killed writer left behind.
 */
class FileKekStoreCrashTest {
  private static final int ITERATIONS = 30;

  /** Kills of the lifecycle child; raise with -Dkeymanager.crashTest.lifecycleKills=100. */
  private static final int LIFECYCLE_ITERATIONS =
      Integer.getInteger("keymanager.crashTest.lifecycleKills", 8);

  // A key manager's steps are slower than raw store writes (a KMS call, several records each).
  private static final int LIFECYCLE_MAX_KILL_DELAY_MILLIS = 1000;
  private static final int MAX_KILL_DELAY_MILLIS = 300;
  private static final long TIMEOUT_SECONDS = 30;

  @TempDir Path temp;

  @Test
  void acknowledgedWritesSurviveKillsAtRandomInstants() throws Exception {
    long seed = Long.getLong("keymanager.crashTest.seed", System.nanoTime());
    Random random = new Random(seed);
    Path dir = temp.resolve("store");
    Map<String, Long> acknowledged = new HashMap<>(); // id -> highest acknowledged revision
    long recordsChecked = 0;
    long started = System.nanoTime();

    for (int iteration = 0; iteration < ITERATIONS; iteration++) {
      String context = "seed " + seed + ", iteration " + iteration;
      List<String> lines =
          runAndKill(
              KekStoreCrashChild.class,
              dir,
              random.nextLong(),
              "r" + iteration,
              random,
              MAX_KILL_DELAY_MILLIS,
              context);
      for (String line : lines) {
        if (line.startsWith("created ")) {
          acknowledged.merge(line.substring("created ".length()), 1L, Math::max);
        } else if (line.startsWith("updated ")) {
          int space = line.lastIndexOf(' ');
          acknowledged.merge(
              line.substring("updated ".length(), space),
              Long.parseLong(line.substring(space + 1)),
              Math::max);
        } else {
          assertThat(line).as(context).isEqualTo("opened");
        }
      }

      try {
        recordsChecked += check(dir, acknowledged, iteration, context);
      } catch (KekStoreException e) {
        throw new AssertionError(context + ": store unusable after the kill", e);
      }
    }

    long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
    assertThat(acknowledged).as("seed %s: acknowledged records", seed).isNotEmpty();
    System.out.printf(
        "FileKekStoreCrashTest: seed %d, %d kills, %d acknowledged records, %d record reads"
            + " checked, %d ms%n",
        seed, ITERATIONS, acknowledged.size(), recordsChecked, millis);
  }

  /**
   * Kills a key manager ({@link KekLifecycleCrashChild}) in the middle of rotations, scheduled
   * destructions and destructions. After each kill: every acknowledged version is there and every
   * DEK wrapped under it unwraps; an acknowledged destruction left no material anywhere and its
   * DEKs fail; a destruction or scheduling cut short is completed by running it again.
   */
  @Test
  void rotationsAndDestructionsSurviveKillsAtRandomInstants() throws Exception {
    long seed = Long.getLong("keymanager.crashTest.seed", System.nanoTime());
    Random random = new Random(seed);
    Path dir = temp.resolve("lifecycle");
    LifecycleLog acked = new LifecycleLog();
    long started = System.nanoTime();

    for (int iteration = 0; iteration < LIFECYCLE_ITERATIONS; iteration++) {
      String context = "seed " + seed + ", iteration " + iteration;
      List<String> lines =
          runAndKill(
              KekLifecycleCrashChild.class,
              dir,
              random.nextLong(),
              "l" + iteration,
              random,
              LIFECYCLE_MAX_KILL_DELAY_MILLIS,
              context);
      acked.read(lines, context);
      try {
        acked.check(dir, context);
      } catch (KekStoreException e) {
        throw new AssertionError(context + ": store unusable after the kill", e);
      }
    }

    assertThat(acked.rotations).as("seed %s: acknowledged rotations", seed).isPositive();
    System.out.printf(
        "FileKekStoreCrashTest: seed %d, %d lifecycle kills, %d KEKs, %d rotations, %d destroyed,"
            + " %d steps cut short by a kill and completed by running them again, %d DEK unwraps"
            + " checked, %d ms%n",
        seed,
        LIFECYCLE_ITERATIONS,
        acked.versions.size(),
        acked.rotations,
        acked.destroyed.size(),
        acked.cutShort,
        acked.deksChecked,
        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
  }

  /** What the lifecycle children acknowledged, and the checks it implies. */
  private static final class LifecycleLog {
    final Map<String, Integer> versions = new HashMap<>(); // id -> highest acknowledged version
    final java.util.Set<String> scheduled = new java.util.HashSet<>();
    final java.util.Set<String> destroyed = new java.util.HashSet<>();
    final List<dev.keymanager.WrappedKey> deks = new ArrayList<>();
    long rotations;
    long cutShort;
    long deksChecked;

    void read(List<String> lines, String context) {
      for (String line : lines) {
        String[] f = line.split(" ");
        switch (f[0]) {
          case "opened" -> {}
          case "created" -> versions.put(f[1], 1);
          case "rotated" -> {
            versions.merge(f[1], Integer.parseInt(f[2]), Math::max);
            rotations++;
          }
          case "dek" ->
              deks.add(
                  dev.keymanager.WrappedKey.decode(java.util.Base64.getDecoder().decode(f[2])));
          case "scheduled" -> scheduled.add(f[1]);
          case "destroyed" -> destroyed.add(f[1]);
          default -> throw new AssertionError(context + ": unexpected line " + line);
        }
      }
    }

    void check(Path dir, String context) {
      try (KekStore store = KekStores.file(dir);
          dev.keymanager.KeyManager keys = KekLifecycleCrashChild.keyManager(store)) {
        for (String id : store.kekIds("", 10_000).ids()) {
          List<KeyEncryptionKey> records = store.versions(id); // reads and checks every record
          for (int v = 0; v < records.size(); v++) {
            assertThat(records.get(v).version())
                .as("%s: versions of %s", context, id)
                .isEqualTo(v + 1);
          }
          // The versions the head names, with the states it gives them.
          List<KeyEncryptionKey> stored =
              keys.admin().describeKekVersions(id).orElseThrow().versions();
          Integer acknowledged = versions.get(id);
          if (acknowledged != null) {
            // A rotation killed between its two writes leaves a record the head never names;
            // the next rotation numbers past it. Every acknowledged version is named.
            assertThat(stored.get(stored.size() - 1).version())
                .as("%s: primary of %s", context, id)
                .isGreaterThanOrEqualTo(acknowledged);
          }
          java.util.Set<KekState> states = java.util.EnumSet.noneOf(KekState.class);
          stored.forEach(r -> states.add(r.state()));
          if (destroyed.contains(id)) {
            assertThat(stored)
                .as("%s: destroyed %s", context, id)
                .allSatisfy(r -> assertThat(r.wrappedMaterial()).isEmpty());
          } else if (scheduled.contains(id) || states.contains(KekState.PENDING_DESTRUCTION)) {
            assertThat(states)
                .as("%s: states of %s", context, id)
                .isSubsetOf(KekState.ENABLED, KekState.PENDING_DESTRUCTION, KekState.DESTROYED);
            if (states.size() > 1 || !scheduled.contains(id)) {
              cutShort++; // a scheduling or destruction in flight at the kill
            }
            // Finish what the child started; running a step again completes one cut short.
            if (stored.get(stored.size() - 1).state() == KekState.ENABLED) {
              keys.admin().scheduleKekDestruction(id, java.time.Duration.ZERO);
            }
            assertThat(keys.admin().destroyKek(id).versions())
                .allSatisfy(r -> assertThat(r.wrappedMaterial()).isEmpty());
            destroyed.add(id);
          } else {
            assertThat(states).as("%s: states of %s", context, id).containsOnly(KekState.ENABLED);
          }
        }
        for (dev.keymanager.WrappedKey dek : deks) {
          String id = dek.kek().id();
          if (destroyed.contains(id)) {
            assertThatThrownBy(() -> keys.unwrapDek(dek, KekLifecycleCrashChild.CONTEXT))
                .as("%s: DEK under destroyed %s", context, dek.kek())
                .isInstanceOf(dev.keymanager.KekStateException.class)
                .hasMessageContaining(id);
          } else {
            try (dev.keymanager.DataKey back =
                keys.unwrapDek(dek, KekLifecycleCrashChild.CONTEXT)) {
              byte[] plain = back.use(byte[]::clone);
              assertThat(plain)
                  .as("%s: DEK under %s", context, dek.kek())
                  .containsOnly(KekLifecycleCrashChild.DEK_BYTE);
            }
          }
          deksChecked++;
        }
      }
    }
  }

  /** Opens the store, reads every record and checks it against the acknowledged revisions. */
  private static int check(
      Path dir, Map<String, Long> acknowledged, int iteration, String context) {
    int checked = 0;
    try (KekStore store = KekStores.file(dir)) {
      List<String> ids = store.kekIds("", 10_000).ids();
      assertThat(ids).as(context).containsAll(acknowledged.keySet());
      // One in-flight create per killed run may have landed without its line.
      assertThat(ids.size() - acknowledged.size()).as(context).isBetween(0, iteration + 1);
      for (String id : ids) {
        List<KeyEncryptionKey> versions = store.versions(id); // reads and checks every record
        assertThat(versions).as("%s: versions of %s", context, id).hasSize(1);
        checked++;
        Long acked = acknowledged.get(id);
        if (acked != null) {
          // At most one write per record can be durable without having been acknowledged.
          assertThat(versions.get(0).revision())
              .as("%s: revision of %s", context, id)
              .isBetween(acked, acked + 1);
        }
      }
    }
    return checked;
  }

  /** Starts a child, kills it a random delay after its first line, and returns its lines. */
  private List<String> runAndKill(
      Class<?> main,
      Path dir,
      long childSeed,
      String tag,
      Random random,
      int maxKillDelayMillis,
      String context)
      throws Exception {
    Path stderr = temp.resolve(tag + ".stderr");
    Path stdout = temp.resolve(tag + ".stdout");
    Process child =
        new ProcessBuilder(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx64m",
                "-XX:TieredStopAtLevel=1",
                "-XX:+UseSerialGC",
                "-cp",
                System.getProperty("java.class.path"),
                main.getName(),
                dir.toString(),
                Long.toString(childSeed),
                tag)
            .redirectError(stderr.toFile())
            .redirectOutput(stdout.toFile())
            .start();
    try {
      boolean opened = awaitFirstLine(stdout, child);
      assertThat(opened).as("%s: child printed a line; stderr: %s", context, read(stderr)).isTrue();
      Thread.sleep(random.nextInt(maxKillDelayMillis)); // the random instant of the kill
    } finally {
      child.destroyForcibly();
    }
    assertThat(child.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)).as(context).isTrue();
    List<String> result = completeLines(Files.readAllBytes(stdout));
    assertThat(result).as("%s: stderr: %s", context, read(stderr)).isNotEmpty();
    return result;
  }

  /**
   * Waits until the child's output file holds a complete line. The protocol goes to a file, not a
   * pipe: every byte the child wrote before the kill is in the file, whereas a pipe read racing
   * with the JDK's drain of an exited process can lose lines that were written.
   */
  private static boolean awaitFirstLine(Path stdout, Process child) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_SECONDS);
    while (System.nanoTime() < deadline) {
      byte[] bytes = Files.readAllBytes(stdout);
      for (byte b : bytes) {
        if (b == '\n') {
          return true;
        }
      }
      if (!child.isAlive()) {
        return false;
      }
      Thread.sleep(2);
    }
    return false;
  }

  /** Complete lines only: a line the kill cut short has no newline and is dropped. */
  private static List<String> completeLines(byte[] bytes) {
    List<String> lines = new ArrayList<>();
    int start = 0;
    for (int i = 0; i < bytes.length; i++) {
      if (bytes[i] == '\n') {
        lines.add(new String(bytes, start, i - start, UTF_8));
        start = i + 1;
      }
    }
    return lines;
  }

  private static String read(Path file) {
    try {
      return Files.readString(file, UTF_8);
    } catch (IOException e) {
      return "(unreadable: " + e + ")";
    }
  }
}
