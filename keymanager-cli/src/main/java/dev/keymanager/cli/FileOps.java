package dev.keymanager.cli;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/** Crash-safe file replacement: write a sibling temporary file, force it, rename it over. */
final class FileOps {
  static final String TEMP_SUFFIX = ".keymanager-tmp";

  private FileOps() {}

  static Path tempFor(Path target) {
    Path name = target.getFileName();
    return target.resolveSibling(name + TEMP_SUFFIX);
  }

  /** Forces {@code file}'s bytes to the device. */
  static void force(Path file) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
      ch.force(true);
    }
  }

  /** Renames {@code temp} over {@code target} atomically. */
  static void replace(Path temp, Path target) throws IOException {
    try {
      Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      throw new IOException("cannot rename atomically over " + target + ": " + e.getMessage(), e);
    }
  }

  /** Forces a directory, so the renames in it are durable; a no-op where the OS cannot. */
  static void forceDirectory(Path dir) {
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    } catch (IOException | UnsupportedOperationException e) {
      // Windows cannot open a directory as a channel: renames there are as durable as NTFS makes
      // them. Any other failure shows at the next write.
    }
  }

  /** Writes {@code bytes} to {@code target} crash-safely (temp, force, rename, force directory). */
  static void writeAtomically(Path target, byte[] bytes) throws IOException {
    Path temp = tempFor(target);
    Files.write(temp, bytes);
    force(temp);
    replace(temp, target);
    Path dir = target.toAbsolutePath().getParent();
    if (dir != null) {
      forceDirectory(dir);
    }
  }
}
