package dev.keymanager.core;

import static java.nio.charset.StandardCharsets.UTF_8;

import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.KeyManager;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/**
 * Child process of {@link PausedRotationTest}: rotates KEK {@code args[1]} in the file store at
 * {@code args[0]}, pausing before it stores its new version record (prints {@code paused}, waits
 * for a line on stdin), and dies the instant that record is stored, before it can move the head.
 */
final class PausedRotationChild {
  private PausedRotationChild() {}

  public static void main(String[] args) {
    PrintStream protocol = new PrintStream(new FileOutputStream(FileDescriptor.out), true, UTF_8);
    System.setOut(System.err);
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, UTF_8));
    KekStore store =
        new ForwardingKekStore(KekStores.file(Path.of(args[0]))) {
          @Override
          public boolean create(KeyEncryptionKey record) {
            protocol.println("paused");
            try {
              in.readLine();
            } catch (IOException e) {
              throw new UncheckedIOException(e);
            }
            boolean stored = super.create(record);
            protocol.println("stored " + stored);
            Runtime.getRuntime().halt(3); // killed right after its write
            return stored;
          }
        };
    try (KeyManager keys = KekLifecycleCrashChild.keyManager(store)) {
      keys.admin().rotateKek(args[1]);
      protocol.println("rotated"); // never reached
    }
  }
}
