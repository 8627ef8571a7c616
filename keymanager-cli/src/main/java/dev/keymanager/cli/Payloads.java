package dev.keymanager.cli;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/** Reads the fields of an envelope header the rewrap and decrypt commands route by. */
final class Payloads {
  private Payloads() {}

  /** Whether the payload is one-shot (kind 1); its header was checked by {@code kekOf}. */
  static boolean isOneShot(Path file) throws IOException {
    try (InputStream i = Files.newInputStream(file)) {
      byte[] b = i.readNBytes(4);
      return b.length == 4 && b[3] == 1;
    }
  }

  /** The segment size of a streaming payload whose header {@code head} holds. */
  static int segmentSize(byte[] head) {
    int w = ((head[4] & 0xFF) << 8) | (head[5] & 0xFF);
    return 1 << (head[6 + w] & 0xFF);
  }
}
