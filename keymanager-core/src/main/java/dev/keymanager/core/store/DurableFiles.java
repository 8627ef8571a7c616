package dev.keymanager.core.store;

import static java.nio.file.StandardOpenOption.CREATE;
import static java.nio.file.StandardOpenOption.READ;
import static java.nio.file.StandardOpenOption.TRUNCATE_EXISTING;
import static java.nio.file.StandardOpenOption.WRITE;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Crash-safe file writes: a file is replaced by writing a temporary sibling, forcing it to the
 * device, renaming it over the target atomically and forcing the directory, so that after a crash
 * at any instant the target holds either its old bytes or its new bytes in full.
 */
final class DurableFiles {
  private static final Logger log = LoggerFactory.getLogger(DurableFiles.class);

  /** The suffix of temporary files; a crashed writer may leave one behind. */
  static final String TEMP_SUFFIX = ".tmp";

  private static final AtomicBoolean warnedDirectorySync = new AtomicBoolean();

  private final FileAttribute<?>[] fileAttributes;
  private final FileAttribute<?>[] directoryAttributes;

  private DurableFiles(FileAttribute<?>[] fileAttributes, FileAttribute<?>[] dirAttributes) {
    this.fileAttributes = fileAttributes;
    this.directoryAttributes = dirAttributes;
  }

  /**
   * Durable files that are created owner-only ({@code rw-------}, directories {@code rwx------})
   * where {@code directory}'s file system has POSIX permissions, with its defaults elsewhere.
   */
  static DurableFiles ownerOnly(Path directory) {
    if (isPosix(directory)) {
      return new DurableFiles(
          new FileAttribute<?>[] {permissions("rw-------")},
          new FileAttribute<?>[] {permissions("rwx------")});
    }
    return new DurableFiles(new FileAttribute<?>[0], new FileAttribute<?>[0]);
  }

  static boolean isPosix(Path path) {
    return path.getFileSystem().supportedFileAttributeViews().contains("posix");
  }

  /** The attributes new files get. */
  FileAttribute<?>[] fileAttributes() {
    return fileAttributes.clone();
  }

  /**
   * Creates {@code dir} if missing and makes its entry durable in its parent.
   *
   * @return whether this call created it
   */
  boolean createDirectory(Path dir) throws IOException {
    if (Files.isDirectory(dir)) {
      return false;
    }
    try {
      Files.createDirectory(dir, directoryAttributes);
    } catch (FileAlreadyExistsException e) {
      if (Files.isDirectory(dir)) {
        return false; // another process won the race
      }
      throw e;
    }
    syncDirectory(dir.toAbsolutePath().getParent());
    return true;
  }

  /** Replaces the content of {@code target} with {@code bytes}, durably and atomically. */
  void replace(Path target, byte[] bytes) throws IOException {
    Path temp = target.resolveSibling(target.getFileName() + TEMP_SUFFIX);
    try {
      try (FileChannel out =
          FileChannel.open(temp, Set.of(CREATE, TRUNCATE_EXISTING, WRITE), fileAttributes)) {
        ByteBuffer buffer = ByteBuffer.wrap(bytes);
        while (buffer.hasRemaining()) {
          out.write(buffer);
        }
        out.force(true);
      }
      // rename(2) replaces the target in one step: readers and crashes see old or new, never both.
      Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      try {
        Files.deleteIfExists(temp);
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
    syncDirectory(target.toAbsolutePath().getParent());
  }

  /**
   * Forces {@code dir}'s entries (a rename, a new file) to the device. Some platforms (Windows) and
   * file systems refuse to open or sync a directory; writes there are as durable as the platform
   * makes a rename, which is said once in the log rather than failing every write.
   */
  static void syncDirectory(Path dir) {
    try (FileChannel channel = FileChannel.open(dir, READ)) {
      channel.force(true);
    } catch (IOException | UnsupportedOperationException e) {
      if (warnedDirectorySync.compareAndSet(false, true)) {
        log.warn(
            "Cannot sync directory {} ({}); KEK store renames may not survive a power loss",
            dir,
            e.toString());
      }
    }
  }

  private static FileAttribute<Set<PosixFilePermission>> permissions(String spec) {
    return PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString(spec));
  }
}
