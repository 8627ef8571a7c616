package dev.keymanager.core;

import static java.nio.charset.StandardCharsets.UTF_8;

import dev.keymanager.KeyManager;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import dev.keymanager.testkit.LifecycleHistory;
import dev.keymanager.testkit.LifecycleRace;
import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.file.Path;

/**
 * One node of {@link FileStoreLifecycleRaceTest}, in its own process: a key manager on the file
 * store at {@code args[0]} runs the {@link LifecycleRace} workload.
 *
 * <p>Arguments: store directory, node name, seed, operations, threads, KEK id prefix, KEK count.
 * Prints {@code ready}, waits for a line on stdin (so both processes start together), runs, then
 * prints every operation of its history ({@link LifecycleHistory.Op#toLine()}) and {@code done}.
 */
final class LifecycleRaceChild {
  private LifecycleRaceChild() {}

  public static void main(String[] args) throws IOException, InterruptedException {
    PrintStream protocol = new PrintStream(new FileOutputStream(FileDescriptor.out), false, UTF_8);
    System.setOut(System.err); // log lines must not mix with protocol lines
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, UTF_8));
    String node = args[1];
    long seed = Long.parseLong(args[2]);
    int ops = Integer.parseInt(args[3]);
    int threads = Integer.parseInt(args[4]);
    FakeKms kms = new FakeKms(); // CMK keys derive from the name: every process shares them
    LifecycleHistory history = new LifecycleHistory();
    try (KekStore store = KekStores.file(Path.of(args[0]));
        KeyManager keys =
            KeyManagers.builder()
                .kekStore(store)
                .kmsProvider(kms)
                .discoverProviders(false)
                .hardTtl(FileStoreLifecycleRaceTest.HARD_TTL)
                .minimumDestructionWindow(java.time.Duration.ZERO)
                .build()) {
      LifecycleRace race =
          new LifecycleRace(
              keys,
              kms,
              node,
              LifecycleRace.kekIds(args[5], Integer.parseInt(args[6])),
              FileStoreLifecycleRaceTest.CMKS);
      protocol.println("ready");
      protocol.flush();
      if (in.readLine() == null) {
        return; // the parent gave up
      }
      race.run(ops, threads, seed, history);
    }
    for (String line : history.lines()) {
      protocol.println(line);
    }
    protocol.println("done");
    protocol.flush();
  }
}
