package dev.keymanager.core;

import static java.nio.charset.StandardCharsets.UTF_8;

import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Random;

/**
 * The lifecycle writer that {@link FileKekStoreCrashTest} kills: through a key manager on a file
 * store it creates KEKs, rotates them, wraps a DEK under each new primary, schedules destructions
 * and destroys, printing a line after every step that returned.
 *
 * <p>Arguments: store directory, random seed, a tag that makes this run's ids unique. Output, one
 * line each, flushed: {@code opened}, then {@code created <id>}, {@code rotated <id> <version>},
 * {@code dek <id> <base64 wrapped key>}, {@code scheduled <id>} and {@code destroyed <id>}. Every
 * DEK is 32 bytes of {@link #DEK_BYTE}, under {@link #CONTEXT}.
 */
final class KekLifecycleCrashChild {
  static final URI CMK = FakeKms.cmk("lifecycle-crash-test");
  static final KeyContext CONTEXT = KeyContext.of("crash", "test");
  static final byte DEK_BYTE = 7;

  /** A bound on a child whose parent died before killing it. */
  private static final Duration MAX_RUN = Duration.ofSeconds(30);

  private KekLifecycleCrashChild() {}

  static KeyManager keyManager(KekStore store) {
    return KeyManagers.builder()
        .kekStore(store)
        .kmsProvider(new FakeKms()) // CMK keys derive from the name: every process shares them
        .discoverProviders(false)
        .minimumDestructionWindow(Duration.ZERO)
        .build();
  }

  public static void main(String[] args) {
    Path dir = Path.of(args[0]);
    Random random = new Random(Long.parseLong(args[1]));
    String tag = args[2];
    PrintStream protocol = new PrintStream(new FileOutputStream(FileDescriptor.out), false, UTF_8);
    System.setOut(System.err); // log lines must not mix with protocol lines
    long deadline = System.nanoTime() + MAX_RUN.toNanos();
    byte[] dek = new byte[32];
    Arrays.fill(dek, DEK_BYTE);

    warmUp(dek); // so the kill lands among lifecycle steps, not class loading
    try (KekStore store = KekStores.file(dir);
        KeyManager keys = keyManager(store)) {
      say(protocol, "opened");
      List<String> live = new ArrayList<>();
      List<String> pending = new ArrayList<>();
      for (int n = 0; System.nanoTime() < deadline && !protocol.checkError(); n++) {
        int dice = random.nextInt(10);
        if (live.isEmpty() || dice == 0) {
          String id = "life-" + tag + "-" + n;
          keys.admin().createKek(id, CMK);
          say(protocol, "created " + id);
          live.add(id);
          wrap(protocol, keys, id, dek);
        } else if (dice <= 6) {
          String id = live.get(random.nextInt(live.size()));
          int version = keys.admin().rotateKek(id).version();
          say(protocol, "rotated " + id + " " + version);
          wrap(protocol, keys, id, dek);
        } else if (dice <= 8 || pending.isEmpty()) {
          String id = live.remove(random.nextInt(live.size()));
          keys.admin().scheduleKekDestruction(id, Duration.ZERO);
          say(protocol, "scheduled " + id);
          pending.add(id);
        } else {
          String id = pending.remove(0);
          keys.admin().destroyKek(id);
          say(protocol, "destroyed " + id);
        }
      }
    }
  }

  /** Runs every step once on an in-memory store. */
  private static void warmUp(byte[] dek) {
    try (KeyManager keys = keyManager(KekStores.inMemory())) {
      keys.admin().createKek("warm-up", CMK);
      keys.admin().rotateKek("warm-up");
      keys.wrapDek("warm-up", dek, CONTEXT);
      keys.admin().scheduleKekDestruction("warm-up", Duration.ZERO);
      keys.admin().destroyKek("warm-up");
    }
  }

  private static void wrap(PrintStream protocol, KeyManager keys, String id, byte[] dek) {
    WrappedKey wrapped = keys.wrapDek(id, dek, CONTEXT);
    say(protocol, "dek " + id + " " + Base64.getEncoder().encodeToString(wrapped.encode()));
  }

  private static void say(PrintStream protocol, String line) {
    protocol.println(line);
    protocol.flush();
  }
}
