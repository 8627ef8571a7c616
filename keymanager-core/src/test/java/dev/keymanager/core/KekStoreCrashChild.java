package dev.keymanager.core;

import static java.nio.charset.StandardCharsets.UTF_8;

import dev.keymanager.KekState;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * The writer that {@link FileKekStoreCrashTest} kills: creates and updates records in a file store
 * as fast as it can and prints a line after every write the store acknowledged.
 *
 * <p>Arguments: store directory, random seed, a tag that makes this run's ids unique. Output, one
 * line each, flushed: {@code opened}, then {@code created <id>} and {@code updated <id>
 * <revision>}. Ids contain spaces, so the revision is the text after the last space.
 */
final class KekStoreCrashChild {
  static final URI CMK = URI.create("fake-kms://crash-test");
  static final Instant T0 = Instant.parse("2024-01-01T00:00:00Z");

  /** A bound on a child whose parent died before killing it. */
  private static final Duration MAX_RUN = Duration.ofSeconds(30);

  private KekStoreCrashChild() {}

  public static void main(String[] args) {
    Path dir = Path.of(args[0]);
    Random random = new Random(Long.parseLong(args[1]));
    String tag = args[2];
    PrintStream protocol = new PrintStream(new FileOutputStream(FileDescriptor.out), false, UTF_8);
    System.setOut(System.err); // log lines must not mix with protocol lines
    long deadline = System.nanoTime() + MAX_RUN.toNanos();

    try (KekStore store = KekStores.file(dir)) {
      say(protocol, "opened");
      List<KeyEncryptionKey> live = new ArrayList<>();
      for (int n = 0; System.nanoTime() < deadline && !protocol.checkError(); n++) {
        if (live.isEmpty() || random.nextInt(3) == 0) {
          KeyEncryptionKey created = newRecord("crash " + tag + "/kek-" + n + "/ü", random);
          if (!store.create(created)) {
            throw new IllegalStateException("create lost for a fresh id " + created.ref());
          }
          say(protocol, "created " + created.id());
          live.add(created);
        } else {
          int i = random.nextInt(live.size());
          KeyEncryptionKey current = live.get(i);
          KeyEncryptionKey next = nextRevision(current, random);
          if (!store.compareAndSet(current.revision(), next)) {
            throw new IllegalStateException("sole writer lost a compare-and-set on " + next.ref());
          }
          say(protocol, "updated " + next.id() + " " + next.revision());
          if (next.state() == KekState.DESTROYED) {
            live.remove(i);
          } else {
            live.set(i, next);
          }
        }
      }
    }
  }

  private static void say(PrintStream protocol, String line) {
    protocol.println(line);
    protocol.flush();
  }

  private static KeyEncryptionKey newRecord(String id, Random random) {
    byte[] material = new byte[32 + random.nextInt(200)];
    random.nextBytes(material);
    return KeyEncryptionKey.builder()
        .id(id)
        .version(1 + random.nextInt(3))
        .cmkUri(CMK)
        .wrappedMaterial(material)
        .createdAt(T0)
        .build();
  }

  /** Toggles enabled and disabled, and now and then schedules and carries out a destruction. */
  private static KeyEncryptionKey nextRevision(KeyEncryptionKey current, Random random) {
    long revision = current.revision() + 1;
    KeyEncryptionKey.Builder next =
        current.toBuilder().revision(revision).updatedAt(T0.plusSeconds(revision)).destroyAt(null);
    if (current.state() == KekState.PENDING_DESTRUCTION) {
      return next.state(KekState.DESTROYED).wrappedMaterial(new byte[0]).build();
    }
    if (random.nextInt(6) == 0) {
      return next.state(KekState.PENDING_DESTRUCTION)
          .destroyAt(T0.plus(Duration.ofDays(7)))
          .build();
    }
    return next.state(current.state() == KekState.ENABLED ? KekState.DISABLED : KekState.ENABLED)
        .build();
  }
}
